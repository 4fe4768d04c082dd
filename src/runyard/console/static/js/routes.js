// The console's pages. Each engineer adds lines here; a page module is loaded when first visited.
import {route} from './router.js';

route('/sign-in', () => import('./pages/sign-in.js'), {public: true});
route('/', () => import('./pages/home.js'));
route('/apps', () => import('./pages/apps.js'));
route('/app/:app', () => import('./pages/app.js'));
route('/app/:app/runs', () => import('./pages/runs.js'));
route('/runs', () => import('./pages/runs.js'));
