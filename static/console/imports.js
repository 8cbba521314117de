// Imports: drop or pick a CSV, follow a background import on its progress bar, cancel it, then read the counts,
// the rejected rows and download the full error list.

import * as api from './api.js';
import { attachmentName, field, fill, formAlert, h, heading, saveFile, showProblem, clearProblem, table } from './dom.js';

const POLL_MS = 400;
const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

export function importsView(main, { say }) {
  const file = field('CSV file', 'file', { type: 'file', accept: '.csv,text/csv', required: true });
  const mode = field('Mode', 'mode', {
    tag: 'select',
    options: [['best_effort', 'Store every valid row'], ['atomic', 'All rows or none']],
  });
  const conflict = field('A customer id already stored', 'on_conflict', {
    tag: 'select',
    options: [['reject', 'Reject the row'], ['update', 'Update the customer']],
  });
  const drop = h(
    'div',
    { class: 'drop' },
    h('p', {}, 'Drop a CSV file here, or pick one below. The header row names the columns (the mPulse export imports as it is).'),
    file.row,
  );
  const report = h('section', { id: 'import-report', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'import-title' },
    h('h2', { id: 'import-title' }, 'Import customers'),
    drop,
    h('div', { class: 'pair' }, mode.row, conflict.row),
    formAlert(),
    h('button', { type: 'submit' }, 'Import'),
  );
  const view = { say, report, form, timer: null };
  dropTarget(drop, file.input);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    start(view, file.input.files[0], mode.input.value, conflict.input.value);
  });
  fill(main, heading('Imports'), form, report);
  main.querySelector('h1').focus();
}

function dropTarget(zone, input) {
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
  });
}

async function start(view, chosen, mode, onConflict) {
  clearProblem(view.form);
  if (!chosen) {
    view.form.querySelector('.form-alert').textContent = 'Pick a CSV file first.';
    return;
  }
  const body = new FormData();
  body.append('file', chosen, chosen.name);
  const button = view.form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const query = new URLSearchParams({ mode, on_conflict: onConflict });
    const { data, status } = await api.request('POST', `/api/customers/import?${query}`, { body });
    view.say(status === 202 ? `Importing ${chosen.name} in the background.` : `Imported ${chosen.name}.`);
    follow(view, data);
  } catch (error) {
    showProblem(view.form, error);
  } finally {
    button.disabled = false;
  }
}

function follow(view, job) {
  clearTimeout(view.timer);
  show(view, job);
  if (ENDED.has(job.status) || !view.report.isConnected) return;
  view.timer = setTimeout(async () => {
    try {
      follow(view, (await api.get(`/api/imports/${encodeURIComponent(job.id)}`)).data);
    } catch (error) {
      view.say(`The import could not be followed: ${error.message}`);
    }
  }, POLL_MS);
}

function show(view, job) {
  const percent = Math.floor((job.progress || 0) * 100);
  const running = !ENDED.has(job.status);
  const cancel = h('button', { type: 'button', class: 'danger', onclick: () => cancelJob(view, job) }, 'Cancel import');
  fill(
    view.report,
    h('h2', {}, `Import of ${job.filename || 'the file'}: ${job.status}`),
    h('label', { for: 'import-progress' }, running ? `${percent}% read` : `Ended ${job.status}`),
    h('progress', { id: 'import-progress', max: '100', value: String(running ? percent : 100) }, `${percent}%`),
    running ? h('div', { class: 'actions' }, cancel) : null,
    h(
      'dl',
      { class: 'figures' },
      [['Rows read', job.rows_read], ['Created', job.created], ['Updated', job.updated], ['Rejected', job.rejected]].map(
        ([term, value]) => h('div', {}, h('dt', {}, term), h('dd', { id: `import-${term.split(' ')[0].toLowerCase()}` }, String(value))),
      ),
    ),
    job.detail ? h('p', { class: 'hint' }, job.detail) : null,
    ENDED.has(job.status) ? rejected(view, job) : null,
  );
}

function rejected(view, job) {
  if (!job.rejected) return h('p', {}, 'No rows were rejected.');
  const download = h('button', { type: 'button', onclick: () => errorsFile(view, job) }, 'Download every error (CSV)');
  const shown = job.errors_truncated ? `The first ${job.errors.length} rejected rows` : 'Rejected rows';
  return [
    h('div', { class: 'actions' }, download),
    h(
      'div',
      { class: 'scroll' },
      table(
        shown,
        ['Line', 'Field', 'Reason', 'Value'],
        job.errors.map((e) => [String(e.line), e.field || '', e.message, e.value === null || e.value === undefined ? '' : String(e.value)]),
      ),
    ),
  ];
}

async function cancelJob(view, job) {
  try {
    const { data } = await api.request('POST', `/api/imports/${encodeURIComponent(job.id)}/cancel`);
    view.say('The import was cancelled.');
    follow(view, data);
  } catch (error) {
    // 409: it ended meanwhile; show how.
    view.say(error.status === 409 ? 'The import had already ended.' : `Not cancelled: ${error.message}`);
  }
}

async function errorsFile(view, job) {
  try {
    const { data, headers } = await api.request('GET', `/api/imports/${encodeURIComponent(job.id)}/errors.csv`, { blob: true });
    saveFile(data, attachmentName(headers, `import-${job.id}-errors.csv`));
  } catch (error) {
    view.say(`No download: ${error.message}`);
  }
}
