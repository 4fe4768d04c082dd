// ARIA tabs: arrow keys move between tabs, Home/End jump; panels are drawn when first shown.
import {h} from '../dom.js';

let counter = 0;

/** tabs([{id, label, render: (panel) => void}], {selected, label, onChange}) -> element */
export function tabs(items, {selected, label = 'Sections', onChange} = {}) {
  const uid = `tabs${++counter}`;
  const list = h('div', {role: 'tablist', 'aria-label': label, class: 'tablist'});
  const panels = h('div', {class: 'tabpanels'});
  const drawn = new Set();
  const buttons = [];
  const panelEls = [];

  const select = (index, focus = false) => {
    buttons.forEach((b, i) => {
      const on = i === index;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
      panelEls[i].hidden = !on;
    });
    if (!drawn.has(index)) {
      drawn.add(index);
      items[index].render(panelEls[index]);
    }
    if (focus) buttons[index].focus();
    if (onChange) onChange(items[index].id);
  };

  items.forEach((item, i) => {
    const tabId = `${uid}-tab-${item.id}`;
    const panelId = `${uid}-panel-${item.id}`;
    const button = h('button', {type: 'button', role: 'tab', id: tabId, 'aria-controls': panelId, class: 'tab',
      onclick: () => select(i)}, item.label);
    button.addEventListener('keydown', (event) => {
      const n = items.length;
      const to = {ArrowRight: (i + 1) % n, ArrowLeft: (i - 1 + n) % n, Home: 0, End: n - 1}[event.key];
      if (to !== undefined) { event.preventDefault(); select(to, true); }
    });
    buttons.push(button);
    list.appendChild(button);
    const panel = h('div', {role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, tabindex: 0, class: 'tabpanel', hidden: true});
    panelEls.push(panel);
    panels.appendChild(panel);
  });
  const first = Math.max(0, items.findIndex((it) => it.id === selected));
  const root = h('div', {class: 'tabs'}, list, panels);
  if (items.length) select(first);
  root.select = (id) => select(Math.max(0, items.findIndex((it) => it.id === id)));
  return root;
}
