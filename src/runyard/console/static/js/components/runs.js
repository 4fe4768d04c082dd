// What run tables share: columns, the link to a run's page, and live status updates.
import {h, timeEl} from '../dom.js';
import {runUrl} from '../links.js';
import {statusBadge} from './status.js';
import {tableRow} from './table.js';

/** Columns of a run table; `showApp` adds the application (account-wide lists). */
export function runColumns({showApp = false} = {}) {
  const app = (r) => r.application_id;
  return [
    {label: 'Run', render: (r) => h('a', {href: runUrl(app(r), r.id), class: 'mono'}, r.id)},
    {label: 'Name', render: (r) => r.name || h('span', {class: 'muted'}, '—')},
    showApp ? {label: 'Application', render: (r) => h('a', {href: `/app/${encodeURIComponent(app(r))}`}, app(r))} : null,
    {label: 'Status', render: (r) => statusBadge(r.status_v2)},
    {label: 'Instance', render: (r) => r.application_instance_id || h('span', {class: 'muted'}, '—')},
    {label: 'Version', render: (r) => r.application_version_id || h('span', {class: 'muted'}, '—')},
    {label: 'Created', render: (r) => timeEl(r.created_at)},
  ].filter(Boolean);
}

/** A run row's fields from a `run.status` event's data (the account stream's envelope `data`). */
export function runFromEvent(data) {
  return {
    id: data.run_id, application_id: data.application_id, status_v2: data.status_v2,
    application_instance_id: data.instance_id || '', application_version_id: data.version_id || '',
    created_at: data.created_at, duration_ms: data.duration_ms, name: '', experiment_id: data.experiment_id,
  };
}

/**
 * A `run.status` handler that keeps a run table current: a shown run's row is redrawn with its new
 * status; a run not shown is added at the top when `accept(run)` says it belongs there.
 * `rows` maps run ids to the row data shown; `tbody()` returns the table's body (null while loading).
 */
export function followRuns({columns, rows, tbody, accept = () => false, onMissingTable = () => {}}) {
  return (envelope) => {
    const run = runFromEvent(envelope.data || {});
    const known = rows.get(run.id);
    const body = tbody();
    if (known) {
      const merged = {...known, status_v2: run.status_v2};
      rows.set(run.id, merged);
      const old = body && body.querySelector(`tr[data-key="${CSS.escape(run.id)}"]`);
      if (old) old.replaceWith(tableRow(columns, merged, (r) => r.id));
    } else if (accept(run)) {
      rows.set(run.id, run);
      if (body) body.prepend(tableRow(columns, run, (r) => r.id));
      else onMissingTable(run);
    }
  };
}
