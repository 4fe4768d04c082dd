// The console's pages. Each engineer adds lines here; a page module is loaded when first visited.
import {route} from './router.js';

route('/sign-in', () => import('./pages/sign-in.js'), {public: true});
route('/', () => import('./pages/home.js'));
route('/apps', () => import('./pages/apps.js'));
route('/app/:app', () => import('./pages/app.js'));
route('/app/:app/runs', () => import('./pages/runs.js'));
route('/runs', () => import('./pages/runs.js'));
route('/app/:app/run/:run', () => import('./pages/run.js'));

// Experiments, inputs and the operator pages.
route('/experiments', () => import('./pages/experiments.js'));
route('/app/:app/experiments', () => import('./pages/experiments.js'));
route('/app/:app/experiments/batch/:id', () => import('./pages/batch.js'));
route('/app/:app/experiments/scenario/:id', () => import('./pages/batch.js'));
route('/app/:app/experiments/acceptance/:id', () => import('./pages/acceptance.js'));
route('/app/:app/experiments/shadow/:id', () => import('./pages/online-test.js'));
route('/app/:app/experiments/switchback/:id', () => import('./pages/online-test.js'));
route('/app/:app/ensembles/:id', () => import('./pages/ensembles.js'));
route('/app/:app/run/:run/ensemble', () => import('./pages/ensembles.js'));
route('/input-sets', () => import('./pages/input-sets.js'));
route('/app/:app/input-sets', () => import('./pages/input-sets.js'));
route('/app/:app/input-sets/:set', () => import('./pages/input-sets.js'));
route('/app/:app/inputs/:input', () => import('./pages/input-sets.js'));
route('/queue', () => import('./pages/queue.js'));
route('/admin', () => import('./pages/admin.js'));
route('/admin/accounts/:account', () => import('./pages/admin.js'));
route('/webhooks', () => import('./pages/webhooks.js'));
route('/webhooks/:id', () => import('./pages/webhooks.js'));
