#!/usr/bin/python3
"""A camera that only serves: gst-rtsp-server with a live H.264 + AAC test source.

Run with Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0):

    gst-rtsp-server.py PORT [--path /cam] [--auth basic|digest --user NAME --password PASS]
                       [--width 1280 --height 720 --fps 30]

Prints "ready <port>" on stdout once the server listens. SIGTERM/SIGINT stop it.
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    ap.add_argument("--user", default="cam")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( videotestsrc is-live=true ! video/x-raw,width=%d,height=%d,framerate=%d/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d ! rtph264pay name=pay0 pt=96 "
        " audiotestsrc is-live=true ! avenc_aac ! rtpmp4gpay name=pay1 pt=97 )"
        % (args.width, args.height, args.fps, args.fps)
    )
    # One pipeline for every client: the stream runs as a camera's does, whoever watches.
    factory.set_shared(True)

    if args.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if args.auth == "basic":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        else:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role_from_structure(Gst.Structure.new_from_string("user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        factory.set_permissions(perms)

    server.get_mount_points().add_factory(args.path, factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print("cannot listen on port %d" % args.port, file=sys.stderr, flush=True)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print("ready %d" % server.get_bound_port(), flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
