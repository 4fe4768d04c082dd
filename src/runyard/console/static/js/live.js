// Live updates over Server-Sent Events (/v1/events for the account, …/runs/{id}/events for one run).
// EventSource retries on its own while the connection drops; when the server refuses the stream
// (closed state), we reopen it with a growing delay, resuming from the last event id seen.

/** subscribe(url, {status: (data, event) => …, log: …, open: () => …, error: () => …}) -> unsubscribe */
export function subscribe(url, handlers) {
  let source = null;
  let stopped = false;
  let timer = null;
  let delay = 1000;
  let lastId = null;

  const connect = () => {
    if (stopped) return;
    const target = new URL(url, location.origin);
    if (lastId) target.searchParams.set('last_event_id', lastId);
    source = new EventSource(target, {withCredentials: true});
    source.onopen = () => { delay = 1000; if (handlers.open) handlers.open(); };
    source.onerror = () => {
      if (handlers.error) handlers.error();
      if (source.readyState === EventSource.CLOSED && !stopped) {
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
    for (const [name, fn] of Object.entries(handlers)) {
      if (name === 'open' || name === 'error') continue;
      source.addEventListener(name, (event) => {
        if (event.lastEventId) lastId = event.lastEventId;
        let data = event.data;
        try { data = JSON.parse(event.data); } catch { /* plain text */ }
        fn(data, event);
      });
    }
  };

  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (source) source.close();
  };
}
