/**
 * A lazy load that runs once: concurrent first callers share one promise, later callers get
 * the loaded value. A failed load is forgotten, so the next caller tries again (a transient
 * failure such as EMFILE must not disable the feature until restart); every caller waiting on
 * the failed attempt gets its error.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      const attempt = load();
      pending = attempt;
      attempt.catch(() => {
        if (pending === attempt) pending = undefined;
      });
    }
    return pending;
  };
}
