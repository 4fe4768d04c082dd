// "/" opens the applications.
export default async function render(root, params, query, ctx) {
  ctx.navigate('/apps', {replace: true});
}
