// The run's log as it is written: lines arrive over the run's event stream; the view follows the end
// until the user scrolls up, and offers to jump back to the latest line.
import {fmtTime, h, replace} from '../dom.js';

const KEEP = 5000; // lines kept on screen; the download holds every line

export class LogView {
  constructor(runId) {
    this.runId = runId;
    this.lines = [];
    this.follow = true;
    this.lastTop = 0;
    this.unseen = 0;
    this.box = h('div', {class: 'log', role: 'log', tabindex: 0, 'aria-label': 'Run log', 'aria-live': 'off'});
    this.box.addEventListener('scroll', () => this.onScroll());
    this.state = h('p', {class: 'log-state muted', role: 'status'}, 'Connecting to the log…');
    this.count = h('span', {class: 'muted'}, 'No lines yet');
    this.followBox = h('input', {type: 'checkbox', id: `follow-${runId}`, checked: true,
      onchange: () => this.setFollow(this.followBox.checked, true)});
    this.jump = h('button', {type: 'button', class: 'button small', hidden: true, onclick: () => this.setFollow(true, true)},
      'Jump to the latest line');
    this.download = h('button', {type: 'button', class: 'button small', onclick: () => this.save()}, 'Download log');
    this.empty = h('p', {class: 'log-empty muted'}, 'The run has written no log lines yet.');
    this.box.append(this.empty);
    this.el = h('div', {class: 'log-view'},
      h('div', {class: 'toolbar'},
        h('span', {class: 'check'}, this.followBox, h('label', {for: `follow-${runId}`}, 'Follow the log')),
        this.jump, this.download, this.count),
      this.box, this.state);
  }

  atBottom() {
    return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 24;
  }

  onScroll() {
    const top = this.box.scrollTop;
    if (top < this.lastTop && !this.atBottom()) this.setFollow(false);
    else if (this.atBottom()) this.setFollow(true);
    this.lastTop = top;
  }

  setFollow(on, scroll = false) {
    this.follow = on;
    this.followBox.checked = on;
    if (on) {
      this.unseen = 0;
      this.jump.hidden = true;
      if (scroll) this.scrollToEnd();
    }
  }

  scrollToEnd() {
    this.box.scrollTop = this.box.scrollHeight;
    this.lastTop = this.box.scrollTop;
  }

  add({timestamp, log}) {
    const text = log ?? '';
    this.lines.push(timestamp ? `${timestamp} ${text}` : text);
    if (this.empty.isConnected) this.empty.remove();
    this.box.append(h('div', {class: 'log-line'},
      timestamp ? h('time', {class: 'log-time', datetime: timestamp}, fmtTime(timestamp).slice(11)) : null,
      h('span', {class: 'log-text'}, text)));
    while (this.box.childElementCount > KEEP) this.box.firstElementChild.remove();
    this.count.textContent = `${this.lines.length} line${this.lines.length === 1 ? '' : 's'}`
      + (this.lines.length > KEEP ? ` (the last ${KEEP} shown)` : '');
    if (this.follow) this.scrollToEnd();
    else { this.unseen += 1; this.jump.hidden = false; this.jump.textContent = `Jump to the latest line (${this.unseen} new)`; }
  }

  setState(text) {
    replace(this.state, text);
  }

  save() {
    const href = URL.createObjectURL(new Blob([this.lines.join('\n') + '\n'], {type: 'text/plain'}));
    const a = h('a', {href, download: `${this.runId}.log`, hidden: true});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 10000);
  }
}
