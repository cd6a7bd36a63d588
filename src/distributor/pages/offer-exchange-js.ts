/**
 * Browser-side code the publish and watch pages share (inlined: the pages need no build step
 * and no extra request): the login form shown when the server answers 401, wait for every ICE
 * candidate, then POST the offer to WHIP or WHEP.
 *
 * Login: the form POSTs `/api/v1/auth/session`, which sets the HttpOnly `ifc_session` cookie;
 * the request that got the 401 is then sent again (the browser adds the cookie, and the Origin
 * header the server's CSRF rule checks). Nothing is shown while nothing answers 401, so an
 * anonymous client on an anonymous network (a laptop's own browser) sees the pages as before.
 * The token never reaches this script. State for tests lives on `window.__login`.
 */
export const OFFER_EXCHANGE_JS = `
const LOGIN_BASE = typeof BASE === "string" ? BASE : "";
const loginState = { shown: 0, loggedIn: null, error: null };
window.__login = loginState;
let loginPending = null;

// One login at a time, whoever asked first: every request that got a 401 waits for it.
function login(reason) {
  if (loginPending) return loginPending;
  loginPending = new Promise((resolve) => {
    loginState.shown++;
    const box = document.createElement("form");
    box.id = "ifc-login";
    box.setAttribute("style", "position:fixed;inset:0;display:flex;flex-direction:column;gap:8px;align-items:center;justify-content:center;background:rgba(0,0,0,.85);z-index:10;font:14px system-ui,sans-serif;color:#ddd");
    box.innerHTML = '<strong>Log in to ImageFlowCanvas Ingest</strong><span id="ifc-login-why"></span>' +
      '<input id="ifc-login-user" name="username" autocomplete="username" placeholder="user name" required>' +
      '<input id="ifc-login-password" name="password" type="password" autocomplete="current-password" placeholder="password" required>' +
      '<button id="ifc-login-submit" type="submit">Log in</button><span id="ifc-login-error" style="color:#f66"></span>';
    box.querySelector("#ifc-login-why").textContent = reason || "";
    box.onsubmit = async (e) => {
      e.preventDefault();
      const err = box.querySelector("#ifc-login-error");
      err.textContent = "";
      try {
        const res = await fetch(LOGIN_BASE + "/api/v1/auth/session", {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ username: box.querySelector("#ifc-login-user").value, password: box.querySelector("#ifc-login-password").value }),
        });
        if (res.status !== 200) {
          let detail = res.status + "";
          try { detail = (await res.json()).detail || detail; } catch {}
          loginState.error = detail;
          err.textContent = detail;
          return;
        }
        loginState.loggedIn = (await res.json()).user;
        loginState.error = null;
        box.remove();
        loginPending = null;
        resolve();
      } catch (x) {
        loginState.error = String(x);
        err.textContent = String(x);
      }
    };
    document.body.appendChild(box);
    box.querySelector("#ifc-login-user").focus();
  });
  return loginPending;
}

// fetch, with the login form on a 401 and the request sent again once logged in.
async function authFetch(url, init) {
  for (;;) {
    const res = await fetch(url, init);
    if (res.status !== 401) return res;
    let detail = "";
    try { detail = (await res.json()).detail || ""; } catch {}
    await login(detail);
  }
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((r) => pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && r()));
}

// POSTs the gathered offer; the session URL comes back apart from the answer, so a caller can
// keep it (to DELETE later) even when applying the answer fails.
async function postOffer(endpoint, pc) {
  const res = await authFetch(endpoint, { method: "POST", headers: { "content-type": "application/sdp" }, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) throw new Error(endpoint + " " + res.status + ": " + body.slice(0, 300));
  return { resourceUrl: new URL(res.headers.get("location"), location.href).toString(), answer: body };
}
`;
