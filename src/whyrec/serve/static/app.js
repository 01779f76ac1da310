// whyrec dashboard: pick a user or build a profile, see recommendations, click one to see why.
const state = { model: null, who: null, chosen: new Map(), item: null, counterfactual: null, without: [],
  store: false, previous: null, picked: null };
const $ = (id) => document.getElementById(id);

async function api(path, body, method) {
  const headers = {};
  const key = sessionStorage.getItem("whyrec-api-key");
  if (key) headers["X-API-Key"] = key;  // the server's key, asked for once when it requires one
  const options = { headers, method: method || (body === undefined ? "GET" : "POST") };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
  const response = await fetch(path, options);
  const payload = await response.json();
  if (response.status === 401) { $("api-key-box").hidden = false; }
  if (!response.ok) {
    const detail = Array.isArray(payload.detail) ? payload.detail.map((d) => d.msg).join("; ") : payload.detail;
    throw new Error(detail || response.statusText);
  }
  return payload;
}

function showError(error) { $("error").textContent = error ? String(error.message || error) : ""; }

async function init() {
  const health = await api("/health");
  $("model").innerHTML = health.models.map((m) => `<option>${escapeHtml(m)}</option>`).join("");
  state.model = health.models[0];
  $("model").onchange = () => { state.model = $("model").value; loadModel(); };
  $("load-user").onclick = () => recommendFor({ user_id: $("user-input").value.trim() });
  $("user-input").onkeydown = (e) => { if (e.key === "Enter") $("load-user").click(); };
  $("load-profile").onclick = () => recommendFor({ profile: currentProfile() });
  $("item-search").oninput = searchItems;
  $("method").onchange = () => state.item !== null && explain(state.item);
  $("sankey-layer").onchange = () => state.explained && drawSankey(state.explained);
  $("load-insights").onclick = showInsights;
  $("read-aloud").onclick = readAloud;
  $("toggle-counterfactual").onclick = toggleCounterfactual;
  $("save-api-key").onclick = () => {
    sessionStorage.setItem("whyrec-api-key", $("api-key").value.trim());
    $("api-key-box").hidden = true;
    showError(null);
  };
  await loadModel();
}

async function loadModel() {
  const info = await api(`/model?model=${encodeURIComponent(state.model)}`);
  // the methods that can explain this model, from the server's registry; its exact one preselected
  // counterfactuals have their own panel ("What would change this?"), not a Sankey
  $("method").innerHTML = info.methods.filter((m) => m !== "counterfactual").map((m) =>
    `<option value="${m}"${m === info.default_method ? " selected" : ""}>${m}</option>`).join("");
  state.counterfactuals = info.methods.includes("counterfactual");
  state.store = Boolean(info.store);
  if (info.requires_api_key && !sessionStorage.getItem("whyrec-api-key")) $("api-key-box").hidden = false;
  $("attribute-fields").innerHTML = Object.entries(info.user_fields).map(([field, values]) =>
    `<label>${escapeHtml(field)} <select data-field="${escapeHtml(field)}"><option value="">(unknown)</option>${values.map((v) => `<option>${escapeHtml(v)}</option>`).join("")}</select></label>`
  ).join("");
}

function currentProfile() {
  const attributes = {};
  document.querySelectorAll("#attribute-fields select").forEach((s) => { if (s.value) attributes[s.dataset.field] = s.value; });
  return { items: [...state.chosen.keys()], attributes };
}

async function searchItems() {
  const query = $("item-search").value.trim();
  if (query.length < 2) { $("item-results").innerHTML = ""; return; }
  const found = await api(`/items?model=${encodeURIComponent(state.model)}&query=${encodeURIComponent(query)}&limit=20`);
  $("item-results").innerHTML = found.items.map((i) => `<li data-id="${escapeHtml(i.item_id)}">${escapeHtml(i.name)}</li>`).join("");
  document.querySelectorAll("#item-results li").forEach((li) => li.onclick = () => {
    state.chosen.set(li.dataset.id, li.textContent);
    $("chosen-items").textContent = [...state.chosen.values()].join(", ");
  });
}

async function recommendFor(who) {
  showError(null);
  try {
    state.who = who;
    state.without = [];
    state.previous = null;
    state.picked = null;
    await showRecommendations();
  } catch (error) { showError(error); }
}

async function showHistory(userId) {
  // the user's history: what the model trained on, then the events stored since (marked new)
  const model = encodeURIComponent(state.model);
  const history = await api(`/users/${encodeURIComponent(userId)}/history?model=${model}`);
  let attributes = Object.entries(history.attributes).map(([k, v]) => `${k} ${v}`);
  if (history.known_to_model) {
    const user = await api(`/users/${encodeURIComponent(userId)}?model=${model}`);
    attributes = user.attributes;
  }
  const seen = history.training.length + history.events.length;
  $("user-summary").textContent = `${attributes.join(", ") || "no attributes"}; ${seen} ${seen === 1 ? "item" : "items"} in history`;
  $("history").innerHTML = [
    ...history.events.slice().reverse().map((e) => `<li class="event" data-item="${escapeHtml(e.item_id)}">${escapeHtml(e.name)} <span class="tag">new</span></li>`),
    ...history.training.map((i) => `<li data-item="${escapeHtml(i.item_id)}">${escapeHtml(i.name)}</li>`),
  ].join("");
}

async function showRecommendations() {
  try {
    const who = state.who;
    const result = await api("/recommend", { model: state.model, k: 10, without: state.without, ...who });
    if (who.user_id !== undefined) {
      await showHistory(who.user_id);
    } else {
      $("user-summary").textContent = "new profile (cold start)";
      $("history").innerHTML = "";
    }
    // what changed since the last list (after "I'd pick this"): new items and moves are marked
    const before = state.previous ? new Map(state.previous.map((id, r) => [String(id), r])) : null;
    const pick = state.store && who.user_id !== undefined && !state.without.length;
    $("recs").innerHTML = result.items.map((i, r) => {
      let change = "";
      if (before) {
        const was = before.get(String(i.item_id));
        if (was === undefined) change = `<span class="change new">new</span>`;
        else if (was > r) change = `<span class="change up">▲${was - r}</span>`;
        else if (was < r) change = `<span class="change down">▼${r - was}</span>`;
      }
      const button = pick ? ` <button class="pick" data-item="${escapeHtml(i.item_id)}">I'd pick this</button>` : "";
      return `<li data-item="${escapeHtml(i.item_id)}"${change.includes("new") ? ' class="changed"' : ""}><span class="name">${escapeHtml(i.name)}</span> ` +
        `<span class="score">${i.score.toFixed(2)}</span> ${change}${button}</li>`;
    }).join("");
    state.shown = result.items.map((i) => String(i.item_id));
    document.querySelectorAll("#recs li").forEach((li) => li.onclick = () => explain(li.dataset.item));
    document.querySelectorAll("#recs button.pick").forEach((b) => b.onclick = (event) => { event.stopPropagation(); pickItem(b.dataset.item); });
  } catch (error) { showError(error); }
}

async function pickItem(itemId) {
  // the loop: store the event, then the list and the explanation refresh in place, changes marked
  showError(null);
  try {
    await api("/events", { model: state.model, events: [{ user_id: state.who.user_id, item_id: itemId }] });
    state.previous = state.shown;
    state.picked = document.querySelector(`#recs li[data-item="${itemId}"] .name`).textContent;
    const explained = state.item !== null && String(state.item) !== String(itemId) ? state.item : null;
    await showRecommendations();
    const next = explained !== null && state.shown.includes(String(explained)) ? explained : state.shown[0];
    if (next !== undefined) await explain(next);
  } catch (error) { showError(error); }
}

async function explain(itemId) {
  showError(null);
  state.item = itemId;
  document.querySelectorAll("#recs li").forEach((li) => li.classList.toggle("active", li.dataset.item === String(itemId)));
  try {
    const e = await api("/explain", { model: state.model, item_id: itemId, method: $("method").value, top: 500, ...state.who });
    const all = e.reasons;
    e.reasons = all.slice(0, 8);
    $("sentence").textContent = e.sentence;
    $("read-aloud").disabled = false;
    state.explained = e;
    showLayers(e);
    drawSankey(e);
    // the item just picked is a new input of the profile: say how much it now weighs for this item
    const position = state.picked ? all.findIndex((r) => r.name === `item:${state.picked}`) : -1;
    $("new-reason").textContent = position < 0 ? "" : newReason(all[position], position);
    $("new-reason").title = position < 0 ? "" : `relevance ${signed(all[position].relevance, 4)}, reason ${position + 1} of ${all.length}`;
    await showCounterfactual(itemId);
    $("against").innerHTML = e.against.length
      ? "<h3>What counts against it</h3><ul>" + e.against.map((r) => `<li class="bad" title="relevance ${signed(r.relevance, 4)}">${escapeHtml(r.label)}</li>`).join("") + "</ul>"
      : "";
  } catch (error) { showError(error); }
}

async function showCounterfactual(itemId) {
  // the smallest set of history items whose removal drops this item out of the top 10, verified
  $("toggle-counterfactual").hidden = true;
  state.counterfactual = null;
  if (!state.counterfactuals || state.without.length) {
    $("counterfactual").textContent = state.without.length ? "Showing the list without the removed items." : "";
    return;
  }
  const e = await api("/explain", { model: state.model, item_id: itemId, method: "counterfactual", n: 10, top: 3, ...state.who });
  const c = e.counterfactual;
  if (!c || !c.found || !c.removed_items.length) {
    $("counterfactual").textContent = c ? c.message : "";
    return;
  }
  $("counterfactual").textContent = c.sentence;
  state.counterfactual = c;
  $("toggle-counterfactual").hidden = false;
  $("toggle-counterfactual").textContent = "Remove them and re-rank";
}

async function toggleCounterfactual() {
  showError(null);
  if (state.without.length) {
    state.without = [];
    $("toggle-counterfactual").textContent = "Remove them and re-rank";
  } else if (state.counterfactual) {
    state.without = state.counterfactual.removed_items;
    $("toggle-counterfactual").textContent = "Put them back";
  }
  await showRecommendations();
}

function readAloud() {
  // the explanation read out, as in the RecoNet paper's demo (the browser's own speech engine)
  const text = $("sentence").textContent;
  if (!text || !window.speechSynthesis) return;
  window.speechSynthesis.cancel();
  window.speechSynthesis.speak(new SpeechSynthesisUtterance(text));
}

function signed(value, digits) { return (value >= 0 ? "+" : "") + value.toFixed(digits); }

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function newReason(reason, position) {
  // how much the item just picked now weighs for this item, in words (the numbers are on hover)
  const weight = position === 0 ? "its strongest reason" : position < 3 ? "one of its three strongest reasons"
    : position < 10 ? "one of its ten strongest reasons" : "a minor reason";
  return reason.relevance >= 0 ? `Your pick ${reason.label} now counts for this item: ${weight}.`
    : `Your pick ${reason.label} now counts against this item.`;
}

function showLayers(e) {
  // the Sankey collapses to a layer's groups (by kind, by genre, by time): relevances add, so the
  // groups carry the same total as the reasons
  const select = $("sankey-layer");
  const chosen = select.value;
  const layers = Object.keys(e.groups || {});
  select.innerHTML = '<option value="">each reason</option>' + layers.map((name) =>
    `<option value="${escapeHtml(name)}">the reasons by ${escapeHtml(name)}</option>`).join("");
  select.value = layers.includes(chosen) ? chosen : "";
  $("layer-box").hidden = layers.length === 0;
}

function drawSankey(e) {
  // Flows from the most relevant inputs into the item; width is the relevance. Negative evidence
  // flows into a separate "against" node in red, so it is never mistaken for support.
  const layer = $("sankey-layer").value;
  const groups = layer && e.groups ? e.groups[layer] || [] : null;
  const positive = groups ? groups.filter((g) => g.relevance > 0).slice(0, 8) : e.reasons.filter((r) => r.relevance > 0);
  const negative = groups ? groups.filter((g) => g.relevance < 0).slice(-5).reverse() : e.against;
  // the item and "against" are named by the title and on hover: a label on the right-hand nodes
  // would be drawn across the flows
  const names = [...positive.map((r) => r.label), ...negative.map((r) => r.label), e.item, "against"];
  const labels = [...names.slice(0, -2), "", ""];
  const item = positive.length + negative.length;
  const links = { source: [], target: [], value: [], color: [] };
  positive.forEach((r, i) => { links.source.push(i); links.target.push(item); links.value.push(r.relevance); links.color.push("rgba(44,160,44,0.45)"); });
  negative.forEach((r, i) => { links.source.push(positive.length + i); links.target.push(item + 1); links.value.push(-r.relevance); links.color.push("rgba(214,39,40,0.45)"); });
  const data = [{
    type: "sankey", orientation: "h", arrangement: "snap",
    node: { label: labels, customdata: names, hovertemplate: "%{customdata}<extra></extra>", pad: 12, thickness: 14,
      color: labels.map((_, i) => i === item ? "#1f3b57" : i === item + 1 ? "#b02a2a" : i >= positive.length ? "#d62728" : "#2ca02c") },
    link: links,
  }];
  const title = `Why ${escapeHtml(e.item)}: <span style="color:#2ca02c">for</span> and <span style="color:#b02a2a">against</span>`;
  Plotly.react("sankey", data, { margin: { l: 10, r: 10, t: 30, b: 10 }, height: 420, title: { text: title, font: { size: 14 } } },
    { responsive: true, displaylogo: false });
}

async function showInsights() {
  showError(null);
  try {
    const r = await api(`/insights?model=${encodeURIComponent(state.model)}&method=${$("method").value}`);
    Plotly.react("insights-chart", [{ type: "bar", orientation: "h", x: r.fields.map((f) => f.share), y: r.fields.map((f) => f.field) }],
      { title: { text: `Mean share of |relevance| per field over ${r.users} users' top recommendation (${r.method})`, font: { size: 13 } },
        yaxis: { autorange: "reversed" }, margin: { l: 140 }, height: Math.max(300, 26 * r.fields.length) });
  } catch (error) { showError(error); }
}

init().catch(showError);
