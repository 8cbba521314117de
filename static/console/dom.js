// Building the page from data: text always goes in as text nodes, never as markup.

/** An element: h('button', {type: 'button', onclick: fn}, 'Save'). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (name in element && typeof value !== 'string') element[name] = value;
    else element.setAttribute(name, value === true ? '' : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside an element. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let fieldCount = 0;

/** A labelled input with a place for its error: {row, input}. */
export function field(label, name, attributes = {}) {
  fieldCount += 1;
  const id = `f${fieldCount}-${name}`;
  const tag = attributes.tag || 'input';
  const { tag: _tag, options, ...rest } = attributes;
  const input =
    tag === 'select'
      ? h('select', { id, name, ...rest }, (options || []).map(([value, text]) => h('option', { value }, text)))
      : h(tag, { id, name, ...rest });
  const error = h('span', { class: 'field-error', id: `${id}-error` });
  input.setAttribute('aria-describedby', error.id);
  const row = h('div', { class: 'field' }, h('label', { for: id }, label), input, error);
  return { row, input };
}

/** Show a refusal's field errors next to their fields; the rest (or the detail) in the form's alert. */
export function showProblem(form, error) {
  clearProblem(form);
  const unplaced = [];
  for (const { field: name, message } of error.fields || []) {
    const input = form.elements.namedItem(String(name).split('.')[0]);
    const place = input && input.getAttribute && document.getElementById(input.getAttribute('aria-describedby'));
    if (place) {
      input.setAttribute('aria-invalid', 'true');
      place.textContent = message;
    } else {
      unplaced.push(`${name}: ${message}`);
    }
  }
  const alert = form.querySelector('.form-alert');
  const placed = (error.fields || []).length > unplaced.length;
  if (alert) alert.textContent = unplaced.length ? unplaced.join('; ') : placed ? 'Not done: see the marked fields.' : error.message;
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

export function clearProblem(form) {
  form.querySelectorAll('[aria-invalid]').forEach((input) => input.removeAttribute('aria-invalid'));
  form.querySelectorAll('.field-error').forEach((place) => {
    place.textContent = '';
  });
  const alert = form.querySelector('.form-alert');
  if (alert) alert.textContent = '';
}

/** The alert region every form has, read out when it changes. */
export function formAlert() {
  return h('p', { class: 'form-alert', role: 'alert' });
}

export function fullName(customer) {
  const name = [customer.first_name, customer.last_name].filter(Boolean).join(' ');
  return name || customer.email || customer.phone_number || customer.id;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** A table whose cells carry their column's name (shown beside each value on a narrow screen). */
export function table(caption, columns, rows) {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map((column) => h('th', { scope: 'col' }, column)))),
    h(
      'tbody',
      {},
      rows.map((cells) => h('tr', {}, cells.map((cell, index) => h('td', { 'data-label': columns[index] }, cell)))),
    ),
  );
}

/** Hand a file fetched with the access token to the browser as a download. */
export function saveFile(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: filename, class: 'visually-hidden' }, filename);
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started from the link; the object URL is no longer needed after this turn.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The file name a Content-Disposition header gives, else `fallback`. */
export function attachmentName(headers, fallback) {
  const match = /filename="([^"]+)"/.exec((headers && headers.get('Content-Disposition')) || '');
  return match ? match[1] : fallback;
}

/** A page's heading, focused so that a screen reader starts there; sets the tab's title too. */
export function heading(title) {
  document.title = `${title} · Customer Interface`;
  return h('h1', { tabindex: '-1' }, title);
}
