// The checkout consent panel: for one cart event, asks the Privet engine (the package's index.js and
// privet.wasm, running in this page) whether the event may flow to the ad pixel, to analytics and to the
// payment processor, under the CPRA pack (policies/cpra, packed with `privet pack`). The Global Privacy Control
// toggle re-decides live. Served by demo/serve.mjs; tested by test/browser/demo.mjs.
//
// URL parameters: `bundle` (packed bundle URL, default ./cpra.privet), `gpc=0` (start with GPC off).
import { Privet } from '../index.js';

const params = new URLSearchParams(location.search);
const bundleUrl = params.get('bundle') ?? './cpra.privet';
const NOW = { __extn: { fn: 'datetime', arg: '2026-03-01' } };

// The shopper and the data, from the pack's sample CRM (policies/cpra/entities.json).
const shopper = { uid: 'Cpra::Consumer::"alice"', name: 'Alice', note: 'signed in, California resident' };
const cart = [
  { item: 'Trail runner shoes', qty: 1, price: 129.0 },
  { item: 'Merino hiking socks', qty: 2, price: 18.0 },
  { item: 'Insulated water bottle', qty: 1, price: 34.5 },
];

// The destinations of the `add_to_cart` event, as the requests the site would send.
const flows = [
  {
    key: 'adpixel',
    title: 'Ad pixel',
    vendor: 'Bluebird Ad Network (third party)',
    what: 'share browsing events for cross-context behavioral advertising',
    request: (gpc) => ({
      principal: 'Cpra::Recipient::"adnet"',
      action: 'Cpra::Action::"share"',
      resource: 'Cpra::Record::"alice-events"',
      context: { purpose: 'marketing.advertising.third_party.targeted', gpc, consideration: 'none', now: NOW },
    }),
  },
  {
    key: 'analytics',
    title: 'Analytics',
    vendor: 'Metricly web analytics (service provider)',
    what: 'disclose browsing events for reporting',
    request: (gpc) => ({
      principal: 'Cpra::Recipient::"metricly"',
      action: 'Cpra::Action::"disclose"',
      resource: 'Cpra::Record::"alice-events"',
      context: { purpose: 'analytics.reporting', gpc, consideration: 'none', now: NOW },
    }),
  },
  {
    key: 'payment',
    title: 'Payment processor',
    vendor: 'Stripe-like payment processor (service provider)',
    what: 'disclose card data for payment processing',
    request: (gpc) => ({
      principal: 'Cpra::Recipient::"payproc"',
      action: 'Cpra::Action::"disclose"',
      resource: 'Cpra::Record::"alice-card"',
      context: { purpose: 'essential.service.payment_processing', gpc, consideration: 'none', now: NOW },
    }),
  },
];

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};
const money = (n) => `$${n.toFixed(2)}`;

function renderCart() {
  const rows = cart.map((c) => el('tr', {}, el('td', {}, `${c.item}${c.qty > 1 ? ` × ${c.qty}` : ''}`), el('td', { class: 'price' }, money(c.qty * c.price))));
  const total = cart.reduce((n, c) => n + c.qty * c.price, 0);
  rows.push(el('tr', { class: 'total' }, el('td', {}, 'Total'), el('td', { class: 'price' }, money(total))));
  $('cart').replaceChildren(...rows);
  $('who').textContent = `Shopper: ${shopper.name} (${shopper.note}) · decision date ${NOW.__extn.arg}`;
}

function renderFlow(flow, d) {
  const why = el('ul', { class: 'why' });
  for (const p of d.determining ?? []) {
    why.append(
      el(
        'li',
        { 'data-policy': p.id },
        el('code', {}, p.id),
        ` (${p.effect}) `,
        p.citation ? el('div', { class: 'cite' }, p.citation) : null,
        p.reason ? el('div', { class: 'text' }, p.reason) : null,
      ),
    );
  }
  if ((d.determining ?? []).length === 0 && (d.errors ?? []).length === 0) {
    why.append(el('li', { class: 'text' }, 'No policy permits this flow (default deny).'));
  }
  const obligations = (d.obligations ?? []).map((o) =>
    el('span', { 'data-kind': o.kind }, `${o.kind}: ${o.params?.display ?? Object.values(o.params ?? {}).join(', ')}`),
  );
  const errors = (d.errors ?? []).map((e) => el('div', { class: 'errors' }, `${e.code}: ${e.message}`));
  return el(
    'article',
    { class: 'flow', 'data-flow': flow.key, 'data-decision': d.decision, 'data-reasons': (d.reasons ?? []).join(' ') },
    el(
      'div',
      { class: 'top' },
      el('div', {}, el('h3', {}, flow.title), el('div', { class: 'meta' }, `${flow.vendor}: ${flow.what}`)),
      el('span', { class: 'verdict' }, d.decision),
    ),
    why,
    obligations.length ? el('div', { class: 'obligations' }, 'Obligations: ', ...obligations) : null,
    ...errors,
  );
}

function decideAll(engine, gpc) {
  const decisions = engine.decideBatch(flows.map((f) => ({ id: f.key, ...f.request(gpc) })));
  const cards = flows.map((f, i) => renderFlow(f, decisions[i]));
  $('flows').replaceChildren(...cards);
  $('event').textContent = `event add_to_cart · ${cart.length} items · GPC ${gpc ? 'on (Sec-GPC: 1)' : 'off'}`;
  // Display obligations (e.g. "Opt-Out Request Honored", 11 CCR §7025(c)(6)) are shown to the shopper.
  const displays = [...new Set(decisions.flatMap((d) => (d.obligations ?? []).filter((o) => o.kind === 'display').map((o) => o.params?.display)))].filter(Boolean);
  $('banner').textContent = displays.join(' · ');
  $('banner').classList.toggle('on', displays.length > 0);
  $('gpc-help').textContent = gpc
    ? 'On: your browser sends Sec-GPC: 1, a request to opt out of sale and sharing.'
    : 'Off: no opt-out signal is sent.';
  document.body.dataset.gpc = String(gpc);
  document.body.dataset.ready = 'true';
  window.privetDemo = { gpc, decisions };
}

async function main() {
  renderCart();
  const gpcBox = $('gpc');
  if (params.get('gpc') === '0') gpcBox.checked = false;
  try {
    const bundle = await fetch(bundleUrl);
    if (!bundle.ok) throw new Error(`cannot fetch the policy bundle ${bundleUrl}: HTTP ${bundle.status}`);
    const engine = await Privet.load(await bundle.arrayBuffer());
    const info = engine.info();
    $('status').textContent = `Policies: ${info.name ?? 'bundle'} ${info.version ?? ''} · ${engine.hash.slice(0, 19)}…`;
    decideAll(engine, gpcBox.checked);
    gpcBox.addEventListener('change', () => decideAll(engine, gpcBox.checked));
  } catch (e) {
    $('status').textContent = `The policy engine failed to start: ${e?.message ?? e}`;
    document.body.dataset.error = String(e?.message ?? e);
  }
}

main();
