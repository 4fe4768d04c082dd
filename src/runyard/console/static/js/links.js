// Console URLs, in one place: the product's patterns, so links from the SDKs land here too.
const enc = encodeURIComponent;

export const appUrl = (app) => `/app/${enc(app)}`;
export const appRunsUrl = (app) => `/app/${enc(app)}/runs`;
export const runUrl = (app, run) => `/app/${enc(app)}/run/${enc(run)}?view=details`;
export const apiApp = (app) => `/v1/applications/${enc(app)}`;
