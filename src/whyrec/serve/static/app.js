// whyrec dashboard: pick a user or build a profile, see recommendations, click one to see why.
const state = { model: null, who: null, chosen: new Map(), item: null, counterfactual: null, without: [] };
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const payload = await response.json();
  if (!response.ok) {
    const detail = Array.isArray(payload.detail) ? payload.detail.map((d) => d.msg).join("; ") : payload.detail;
    throw new Error(detail || response.statusText);
  }
  return payload;
}

function showError(error) { $("error").textContent = error ? String(error.message || error) : ""; }

async function init() {
  const health = await api("/health");
  $("model").innerHTML = health.models.map((m) => `<option>${m}</option>`).join("");
  state.model = health.models[0];
  $("model").onchange = () => { state.model = $("model").value; loadModel(); };
  $("load-user").onclick = () => recommendFor({ user_id: $("user-input").value.trim() });
  $("user-input").onkeydown = (e) => { if (e.key === "Enter") $("load-user").click(); };
  $("load-profile").onclick = () => recommendFor({ profile: currentProfile() });
  $("item-search").oninput = searchItems;
  $("method").onchange = () => state.item !== null && explain(state.item);
  $("load-insights").onclick = showInsights;
  $("read-aloud").onclick = readAloud;
  $("toggle-counterfactual").onclick = toggleCounterfactual;
  await loadModel();
}

async function loadModel() {
  const info = await api(`/model?model=${encodeURIComponent(state.model)}`);
  // the methods that can explain this model, from the server's registry; its exact one preselected
  // counterfactuals have their own panel ("What would change this?"), not a Sankey
  $("method").innerHTML = info.methods.filter((m) => m !== "counterfactual").map((m) =>
    `<option value="${m}"${m === info.default_method ? " selected" : ""}>${m}</option>`).join("");
  state.counterfactuals = info.methods.includes("counterfactual");
  $("attribute-fields").innerHTML = Object.entries(info.user_fields).map(([field, values]) =>
    `<label>${field} <select data-field="${field}"><option value="">(unknown)</option>${values.map((v) => `<option>${v}</option>`).join("")}</select></label>`
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
  $("item-results").innerHTML = found.items.map((i) => `<li data-id="${i.item_id}">${i.name}</li>`).join("");
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
    await showRecommendations();
  } catch (error) { showError(error); }
}

async function showRecommendations() {
  try {
    const who = state.who;
    const result = await api("/recommend", { model: state.model, k: 10, without: state.without, ...who });
    if (who.user_id !== undefined) {
      const user = await api(`/users/${encodeURIComponent(who.user_id)}?model=${encodeURIComponent(state.model)}`);
      $("user-summary").textContent = `${user.attributes.join(", ")}; ${user.history.length} items in history`;
    } else {
      $("user-summary").textContent = "new profile (cold start)";
    }
    $("recs").innerHTML = result.items.map((i) =>
      `<li data-item="${i.item_id}"><span class="name">${i.name}</span> <span class="score">${i.score.toFixed(2)}</span></li>`
    ).join("");
    document.querySelectorAll("#recs li").forEach((li) => li.onclick = () => explain(li.dataset.item));
  } catch (error) { showError(error); }
}

async function explain(itemId) {
  showError(null);
  state.item = itemId;
  document.querySelectorAll("#recs li").forEach((li) => li.classList.toggle("active", li.dataset.item === String(itemId)));
  try {
    const e = await api("/explain", { model: state.model, item_id: itemId, method: $("method").value, top: 8, ...state.who });
    $("sentence").textContent = e.sentence;
    $("read-aloud").disabled = false;
    drawSankey(e);
    await showCounterfactual(itemId);
    $("against").innerHTML = e.against.length
      ? "<h3>Evidence against</h3><ul>" + e.against.map((r) => `<li class="bad">${r.name} (${r.relevance.toFixed(3)})</li>`).join("") + "</ul>"
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
  const names = c.removed.map((n) => n.replace(/^item:/, ""));
  const taker = c.replaced_by_name ? `, and ${c.replaced_by_name} would take its place` : "";
  $("counterfactual").textContent =
    `Without ${names.join(", ")} in the history, ${e.item} would drop from rank ${c.rank} to ${c.new_rank}${taker}.`;
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

function drawSankey(e) {
  // Flows from the most relevant inputs into the item; width is the relevance. Negative evidence
  // flows into a separate "against" node in red, so it is never mistaken for support.
  const positive = e.reasons.filter((r) => r.relevance > 0);
  const negative = e.against;
  const labels = [...positive.map((r) => r.name), ...negative.map((r) => r.name), e.item, "against"];
  const item = positive.length + negative.length;
  const links = { source: [], target: [], value: [], color: [] };
  positive.forEach((r, i) => { links.source.push(i); links.target.push(item); links.value.push(r.relevance); links.color.push("rgba(44,160,44,0.45)"); });
  negative.forEach((r, i) => { links.source.push(positive.length + i); links.target.push(item + 1); links.value.push(-r.relevance); links.color.push("rgba(214,39,40,0.45)"); });
  const data = [{
    type: "sankey", orientation: "h", arrangement: "snap",
    node: { label: labels, pad: 12, thickness: 14,
      color: labels.map((_, i) => i === item ? "#1f3b57" : i === item + 1 ? "#b02a2a" : i >= positive.length ? "#d62728" : "#2ca02c") },
    link: links,
  }];
  Plotly.react("sankey", data, { margin: { l: 10, r: 10, t: 30, b: 10 }, height: 420, title: { text: `${e.method.toUpperCase()}: why ${e.item}`, font: { size: 14 } } });
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
