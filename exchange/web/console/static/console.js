// 公共资源交易平台 — the operator console: the listing form's switching fieldsets, and one listing's
// actions, applications, live auction watch. Every change goes through the JSON API (Exchange.api).
"use strict";

(() => {
  const lang = document.documentElement.lang === "en" ? "en" : "zh";
  const tr = (zh, en) => (lang === "en" ? en : zh);
  const CONTROLS = "input, select, textarea, fieldset";

  // Hidden parts must not be submitted: formJson skips disabled controls, but a disabled fieldset does not
  // make its controls' .disabled true, so every control is switched one by one.
  function enable(node, on) {
    node.hidden = !on;
    if (node.matches(CONTROLS)) node.disabled = !on;
    node.querySelectorAll(CONTROLS).forEach((control) => { control.disabled = !on; });
  }

  function listingForm(form) {
    const asset = form.querySelector("[data-switch-asset]");
    const method = form.querySelector("[data-switch-method]");
    const apply = () => {
      form.querySelectorAll("[data-asset]").forEach((node) => enable(node, node.dataset.asset === asset.value));
      form.querySelectorAll("[data-methods]").forEach((node) => {
        enable(node, node.dataset.methods.split(" ").includes(method.value));
      });
    };
    asset.addEventListener("change", apply);
    method.addEventListener("change", apply);
    apply();
  }

  // A draft's values into the form, by field name (the API's path): before the fieldsets switch and the
  // Beijing inputs sync, so both start from the draft.
  function prefill(form) {
    const source = document.getElementById(form.dataset.prefill || "");
    if (!source) return;
    const draft = JSON.parse(source.textContent);
    const at = (path) => path.split(".").reduce((node, key) => (node == null ? undefined : node[key]), draft);
    // The API shows a method's parameters (freeze_seconds, quantity, ...) in method_params; the edit takes
    // them at the top level. An edit clears what it sends empty, so every one of them must be filled in.
    const params = draft.method_params || {};
    for (const element of form.elements) {
      if (!element.name || element.tagName === "FIELDSET") continue; // a named fieldset only groups errors
      const value = at(element.name) ?? params[element.name];
      if (value === undefined || value === null) continue;
      if (element.type === "checkbox") element.checked = Boolean(value);
      else if (element.dataset.type === "json" || typeof value === "object") element.value = JSON.stringify(value);
      else element.value = String(value);
    }
    form.querySelectorAll("[data-beijing]").forEach((input) => {
      const value = at(input.dataset.beijing);
      if (value) input.value = new Date(value).toLocaleString("sv-SE", { timeZone: "Asia/Shanghai", hour12: false }).replace(" ", "T");
    });
  }

  // The seller (出让人 / 转让方) as one object in the hidden "seller" field: all inputs empty is no seller
  // (cleared in an edit), otherwise {name, credit_code?, address?, contact?}.
  function sellerInputs(form) {
    const hidden = form.querySelector("[data-seller-json]");
    if (!hidden) return;
    const parts = [...form.querySelectorAll("[data-seller-part]")];
    if (hidden.value) {
      const seller = JSON.parse(hidden.value);
      for (const input of parts) input.value = seller[input.dataset.sellerPart] ?? "";
    }
    const sync = () => {
      const seller = {};
      for (const input of parts) if (input.value.trim()) seller[input.dataset.sellerPart] = input.value.trim();
      hidden.value = Object.keys(seller).length ? JSON.stringify({ name: "", ...seller }) : "";
    };
    for (const input of parts) input.addEventListener("input", sync);
  }

  // The payment terms editor: fields and instalment rows <-> the hidden "payment_terms" JSON. Untouched it sends
  // nothing (disabled): a new listing gets the class default, an edit keeps the draft's terms (or, when they were
  // the default, the server's new default for the edited attributes). Once edited it sends the whole object;
  // "back to the default" sends null in an edit (the class default) and nothing on a new listing. While the
  // terms follow the default, the display follows the class and, for land, the supply mode and term (a lease
  // pays annual rent), as the server's default_terms does.
  function termsEditor(form) {
    const box = form.querySelector("[data-terms-editor]");
    if (!box) return;
    const hidden = box.querySelector("[data-terms-json]");
    const defaults = JSON.parse(document.getElementById("default-terms").textContent);
    const asset = form.querySelector("[data-switch-asset]");
    const land = (name) => form.querySelector(`[data-asset="land_use_right"] [name="attributes.${name}"]`);
    const LEASES = ["long_term_lease", "lease_then_transfer"];
    const defaultFor = () => {
      const terms = { ...defaults[asset.value] };
      const years = Number(land("term_years")?.value);
      if (asset.value === "land_use_right" && LEASES.includes(land("supply_mode")?.value)
          && Number.isInteger(years) && years >= 1 && years <= 70) terms.rent = { years, first_months: 1 };
      return terms;
    };
    const canon = (value) => JSON.stringify(value, (_, v) => (v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
    const rows = box.querySelector("[data-term-rows] tbody");
    const summary = box.querySelector("[data-terms-summary]");
    const field = (name) => box.querySelector(`[data-term="${name}"]`);
    const LABELS = { full: ["全款", "Full price"], first: ["首期", "First instalment"], balance: ["余款", "Balance"] };
    const pct = (text) => {
      // "0.5" -> "50" exactly, by moving the decimal point two places; no float.
      const [whole, fraction = ""] = String(text).split(".");
      const digits = `${whole}${fraction.padEnd(2, "0")}`;
      const cut = whole.length + 2;
      const out = `${digits.slice(0, cut).replace(/^0+(?=\d)/, "")}.${digits.slice(cut)}`.replace(/\.?0*$/, "");
      return out || "0";
    };
    const fromPct = (text) => {
      const value = String(text).trim();
      if (!/^\d+(\.\d+)?$/.test(value)) return value; // the API names what is wrong
      const [whole, fraction = ""] = value.split(".");
      const padded = whole.padStart(3, "0");
      const out = `${padded.slice(0, -2).replace(/^0+(?=\d)/, "")}.${padded.slice(-2)}${fraction}`.replace(/\.?0*$/, "");
      return out || "0";
    };
    const whole = (text) => (/^\d+$/.test(String(text).trim()) ? Number.parseInt(text, 10) : String(text));
    let touched = false;

    function addRow(term) {
      const row = rows.insertRow();
      const n = rows.rows.length;
      const period = term.working_days ?? term.months ?? "";
      row.innerHTML = `<td><input data-col="label" aria-label="${tr("名称", "Label")} ${n}"></td>
        <td><input data-col="share" inputmode="decimal" aria-label="${tr("比例 %", "Share %")} ${n}"></td>
        <td><input data-col="period" inputmode="numeric" aria-label="${tr("期限", "Within")} ${n}"></td>
        <td><select data-col="unit" aria-label="${tr("单位", "Unit")} ${n}"><option value="working_days">${tr("个工作日", "working days")}</option><option value="months">${tr("个月", "months")}</option></select></td>
        <td><input data-col="interest" inputmode="decimal" aria-label="${tr("年利率 %", "Interest % a year")} ${n}"></td>
        <td><button type="button" class="secondary" data-term-remove>${tr("删除", "Remove")}</button></td>`;
      const col = (name) => row.querySelector(`[data-col="${name}"]`);
      col("label").value = term.label ?? "";
      col("share").value = term.share != null ? pct(term.share) : "";
      col("period").value = String(period);
      col("unit").value = term.months != null ? "months" : "working_days";
      col("interest").value = term.interest_per_annum != null ? pct(term.interest_per_annum) : "0";
      row.querySelector("[data-term-remove]").addEventListener("click", () => { row.remove(); changed(); });
    }

    function load(terms) {
      field("anchor").value = terms.anchor;
      field("contract_working_days").value = String(terms.contract_working_days);
      field("late_fee_per_mille").value = String(terms.late_fee_per_mille);
      field("grace_days").value = String(terms.grace_days);
      field("rent").checked = Boolean(terms.rent);
      field("rent.years").value = terms.rent ? String(terms.rent.years) : "";
      field("rent.first_months").value = terms.rent ? String(terms.rent.first_months) : "1";
      rows.replaceChildren();
      terms.terms.forEach(addRow);
      show(terms);
    }

    function read() {
      const terms = [...rows.rows].map((row) => {
        const col = (name) => row.querySelector(`[data-col="${name}"]`).value.trim();
        return { label: col("label"), share: fromPct(col("share")), [col("unit")]: whole(col("period")), interest_per_annum: fromPct(col("interest") || "0") };
      });
      return {
        anchor: field("anchor").value,
        contract_working_days: whole(field("contract_working_days").value),
        late_fee_per_mille: field("late_fee_per_mille").value.trim(),
        grace_days: whole(field("grace_days").value),
        terms,
        rent: field("rent").checked ? { years: whole(field("rent.years").value), first_months: whole(field("rent.first_months").value) } : null,
      };
    }

    // The terms in words beside the editor (the server says them the same way on the listing's page).
    function show(terms) {
      summary.replaceChildren();
      const say = (text, bad) => { const li = document.createElement("li"); li.textContent = text; if (bad) li.className = "bad"; summary.append(li); };
      const from = terms.anchor === "contract" ? tr("自合同签订之日起", "from the contract signing") : tr("自成交确认之日起", "from the confirmation");
      if (terms.anchor === "contract") say(tr(`成交确认后 ${terms.contract_working_days} 个工作日内签订合同`, `Contract within ${terms.contract_working_days} working days of the confirmation`));
      if (terms.rent) say(tr(`按年缴纳租金，共 ${terms.rent.years} 年`, `Annual rent for ${terms.rent.years} years`));
      let total = 0;
      for (const term of terms.terms) {
        const share = pct(term.share);
        total += Number(share) * 10000; // display check only; the API checks exactly
        const unit = term.months != null ? tr("个月", " months") : tr("个工作日", " working days");
        const period = term.months ?? term.working_days;
        const name = LABELS[term.label] ? tr(...LABELS[term.label]) : term.label;
        const rate = Number(pct(term.interest_per_annum || "0")) ? tr(`，年利率 ${pct(term.interest_per_annum)}%`, `, interest ${pct(term.interest_per_annum)}% a year`) : "";
        say(tr(`${name}：${share}%，${from} ${period}${unit}内${rate}`, `${name}: ${share}% within ${period}${unit} ${from}${rate}`));
      }
      if (Math.round(total) !== 1000000) say(tr("各期比例合计应为 100%", "The shares must add up to 100%"), true);
      say(tr(`逾期每日 ${terms.late_fee_per_mille}‰；逾期超过 ${terms.grace_days} 日可提议解除合同`, `Late fee ${terms.late_fee_per_mille}‰ a day; rescission after ${terms.grace_days} days overdue`));
    }

    function changed() {
      touched = true;
      const terms = read();
      hidden.disabled = false;
      hidden.value = JSON.stringify(terms);
      show(terms);
    }

    box.addEventListener("input", (event) => { if (event.target !== hidden) changed(); });
    box.addEventListener("change", (event) => { if (event.target !== hidden) changed(); });
    box.querySelector("[data-term-add]").addEventListener("click", () => {
      addRow({ label: `term${rows.rows.length + 1}`, share: "0", months: 1, interest_per_annum: "0" });
      changed();
    });
    box.querySelector("[data-term-reset]").addEventListener("click", () => {
      touched = false;
      following = true;
      hidden.value = ""; // not sent on a new listing; null in an edit: both mean the class default
      hidden.disabled = !form.hasAttribute("data-empty-clears");
      load(defaultFor());
    });
    const follow = (event) => {
      if (!following || touched) return;
      if (event.target === asset || event.target === land("supply_mode") || event.target === land("term_years")) load(defaultFor());
    };
    form.addEventListener("change", follow);
    form.addEventListener("input", follow);
    // An edit starts from the draft's terms; they follow the attributes only if they are the default.
    const draft = hidden.value ? JSON.parse(hidden.value) : null;
    let following = !draft || canon(draft) === canon(defaultFor());
    hidden.disabled = true;
    load(draft || defaultFor());
  }

  // datetime-local in Beijing time -> ISO with +08:00 in the hidden field the API reads.
  function beijingInputs(form) {
    form.querySelectorAll("[data-beijing]").forEach((input) => {
      const hidden = form.querySelector(`input[type="hidden"][name="${CSS.escape(input.dataset.beijing)}"]`);
      const sync = () => {
        const value = input.value;
        hidden.value = value ? `${value.length === 16 ? `${value}:00` : value}+08:00` : "";
      };
      input.addEventListener("input", sync);
      input.addEventListener("change", sync);
      sync();
    });
  }

  // Yuan strings from the API, grouped as text: no float ever touches an amount.
  const money = (value) => {
    if (value == null || value === "") return "—";
    const [whole, fraction = ""] = String(value).split(".");
    return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${`${fraction}00`.slice(0, 2)}`;
  };
  const beijing = (iso) => (iso ? new Date(iso).toLocaleString("sv-SE", { timeZone: "Asia/Shanghai", hour12: false }) : "—");

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.append(td);
    return td;
  }

  function showAlert(box, problem) {
    box.hidden = false;
    box.dataset.code = problem?.code || "";
    box.textContent = Exchange.message(problem);
    box.focus();
  }

  // <button data-api-post="/api/v1/..." [data-body="{}"] [data-redirect="/console/listings/{id}"]>: the
  // problem's detail and each broken rule's code (publishing checks the statutory profile) show in its section.
  function postButtons() {
    document.querySelectorAll("button[data-api-post]").forEach((button) => {
      button.addEventListener("click", async () => {
        // a confirm dialog shows its own problems: the page behind it is inert while it is open
        const section = button.closest("dialog, section") || document;
        button.disabled = true;
        const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
        const result = await Exchange.api("POST", button.dataset.apiPost, body);
        button.disabled = false;
        if (result.ok) {
          const target = button.dataset.redirect;
          if (!target) return window.location.reload();
          return window.location.assign(target.replace(/\{(\w+)\}/g, (_, key) => result.data?.[key] ?? ""));
        }
        const list = section.querySelector("[data-action-problems]");
        list?.replaceChildren();
        for (const item of result.data?.errors || []) {
          // the field by its label on the form, the code only as data (a test or a support call reads it)
          const li = document.createElement("li");
          li.dataset.code = item.code;
          li.dataset.field = item.field;
          const name = fieldLabel(item.field);
          li.textContent = name ? `${name}${tr("：", ": ")}${item.message}` : item.message;
          list?.append(li);
        }
        showAlert(section.querySelector("[data-action-alert]"), result.data);
      });
    });
  }

  // The listing form's labels by the API's field path (console/listing.html), for problems about a field.
  const fieldsSource = document.getElementById("console-fields");
  const FIELDS = fieldsSource ? JSON.parse(fieldsSource.textContent) : {};
  function fieldLabel(path) {
    const parts = String(path || "").split(".");
    while (parts.length) {
      const found = FIELDS[parts.join(".")];
      if (found) return found;
      parts.pop();
    }
    return "";
  }

  // <button data-opens="dialog-id">: a modal confirm step (publishing shows the public's view first).
  function dialogs() {
    document.querySelectorAll("button[data-opens]").forEach((button) => {
      const dialog = document.getElementById(button.dataset.opens);
      if (!dialog) return;
      button.addEventListener("click", () => dialog.showModal());
      dialog.querySelectorAll("[data-close-dialog]").forEach((close) => close.addEventListener("click", () => dialog.close()));
    });
  }

  // Statuses, phases and results in the page's language, from exchange.vocabulary (console/listing.html).
  const wordsSource = document.getElementById("console-words");
  const WORDS = wordsSource ? JSON.parse(wordsSource.textContent) : {};

  // Under post-qualification (资格后审) nobody decides an application: paying the deposit qualifies it.
  async function applications(id, operator, decides) {
    const table = document.querySelector("[data-applications]");
    if (!table) return;
    const body = table.querySelector("tbody");
    const box = document.querySelector("[data-applications-alert]");
    const result = await Exchange.api("GET", `/api/v1/listings/${id}/applications`);
    if (!result.ok) return showAlert(box, result.data);
    body.replaceChildren();
    if (!result.data.length) {
      const row = body.insertRow();
      cell(row, tr("暂无报名。", "No applications yet."), "muted").colSpan = 6;
    }
    for (const app of result.data) {
      const row = body.insertRow();
      row.dataset.applicationId = app.id;
      cell(row, app.bidder_name || `#${app.bidder_id}`);
      cell(row, app.credit_code || "");
      cell(row, WORDS.application_status[app.status] || app.status).dataset.status = app.status;
      cell(row, `${money(app.deposit_due)} / ${money(app.deposit_paid)}`, "num");
      cell(row, app.bid_number || "—");
      const review = cell(row, app.decision_reason || "");
      if (decides && app.status === "pending") review.append(decisionControls(id, operator, app));
    }
  }

  function decisionControls(id, operator, app) {
    const wrap = document.createElement("div");
    wrap.className = "inline";
    const reasonId = `reason-${app.id}`;
    wrap.innerHTML = `<label for="${reasonId}"></label> <input id="${reasonId}" autocomplete="off">
      <button type="button" data-approve></button> <button type="button" class="danger" data-reject></button>`;
    wrap.querySelector("label").textContent = tr("意见", "Reason");
    wrap.querySelector("[data-approve]").textContent = tr("通过", "Approve");
    wrap.querySelector("[data-reject]").textContent = tr("驳回", "Reject");
    const decide = async (approve) => {
      const reason = wrap.querySelector("input").value.trim();
      const result = await Exchange.api("POST", `/api/v1/applications/${app.id}/decision`,
        reason ? { approve, reason } : { approve });
      if (!result.ok) return showAlert(document.querySelector("[data-applications-alert]"), result.data);
      applications(id, operator, true);
    };
    wrap.querySelector("[data-approve]").addEventListener("click", () => decide(true));
    wrap.querySelector("[data-reject]").addEventListener("click", () => decide(false));
    return wrap;
  }

  const EVENT_LABEL = {
    bid: ["出价", "Bid"], extended: ["延时", "Extended"], phase: ["阶段", "Phase"], price: ["降价", "Clock price"],
    opt_in: ["参加摇号", "Lottery opt-in"], closed: ["成交", "Closed"], failed: ["流拍", "Failed"],
    suspended: ["中止", "Suspended"], resumed: ["恢复", "Resumed"], cancelled: ["终止", "Cancelled"],
  };
  const WATCHED = { status: "auction_status", phase: "auction_phase", result: "outcome" };
  const label = (key, value) => WORDS[WATCHED[key]]?.[value] ?? value ?? "—";

  function watch(id) {
    const section = document.querySelector("[data-watch]");
    if (!section) return;
    const field = (name) => section.querySelector(`[data-field="${name}"]`);
    const connection = section.querySelector("[data-connection]");
    const countdown = section.querySelector("[data-countdown]");
    const history = section.querySelector("[data-history] tbody");
    let endsAt = null;
    let over = false; // closed, failed or cancelled: the feed has nothing more to say

    async function refresh() {
      const result = await Exchange.api("GET", `/api/v1/auctions/${id}`);
      if (!result.ok) {
        connection.textContent = result.data?.detail || tr("尚无竞价", "No auction yet");
        return;
      }
      const view = result.data;
      Exchange.syncClock(view.server_time);
      for (const key of Object.keys(WATCHED)) field(key).textContent = label(key, view[key]);
      for (const key of ["leading_bid_number", "bid_count"]) field(key).textContent = view[key] ?? "—";
      field("current_price").textContent = money(view.current_price);
      field("ends_at").textContent = beijing(view.ends_at);
      endsAt = view.ends_at ? Date.parse(view.ends_at) : null;
      over = ["closed", "failed", "cancelled"].includes(view.status);
    }

    // One state read per burst of events: a replay of hundreds of bids must not fire hundreds of GETs.
    let pending = null;
    function refreshSoon() {
      if (pending) return;
      pending = setTimeout(() => { pending = null; refresh(); }, 200);
    }

    function tick() {
      if (!endsAt) { countdown.textContent = "—"; return; }
      const left = Math.max(0, Math.round((endsAt - Exchange.serverNow().getTime()) / 1000));
      const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      countdown.textContent = `${h ? `${h}:` : ""}${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
      countdown.classList.toggle("warn", left <= 60);
    }

    function add(event) {
      const row = history.insertRow(0);
      row.dataset.seq = event.seq;
      cell(row, String(event.seq), "num");
      cell(row, beijing(event.at));
      cell(row, EVENT_LABEL[event.kind] ? tr(...EVENT_LABEL[event.kind]) : event.kind);
      cell(row, event.bid_number || event.bidder || "");
      cell(row, event.amount != null ? money(event.amount) : event.price != null ? money(event.price) : "", "num");
    }

    function connect() {
      Exchange.feed(id, 0, {
        event: (event) => {
          add(event);
          if (event.kind === "bid" && event.amount != null) field("current_price").textContent = money(event.amount);
          if (event.ends_at) { endsAt = Date.parse(event.ends_at); field("ends_at").textContent = beijing(event.ends_at); }
          refreshSoon();
        },
        state: (name) => {
          const [text, className] = {
            live: [tr("实时连接正常", "Live"), "ok"],
            reconnecting: [tr("连接中断，正在重连…", "Disconnected, reconnecting…"), "warn"],
            ended: [tr("竞价已结束", "Bidding is over"), "muted"],
          }[name];
          connection.textContent = text;
          connection.className = className;
        },
        ended: () => over,
      });
    }

    refresh().then(connect);
    setInterval(tick, 500);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-prefill]").forEach(prefill);
    document.querySelectorAll("form[data-listing-form]").forEach(listingForm);
    document.querySelectorAll("form[data-listing-form]").forEach(sellerInputs);
    document.querySelectorAll("form[data-listing-form]").forEach(termsEditor);
    document.querySelectorAll("form").forEach(beijingInputs);
    postButtons();
    dialogs();
    const root = document.getElementById("console-listing");
    if (!root) return;
    const id = root.dataset.listingId;
    const operator = root.dataset.operator === "true";
    applications(id, operator, operator && root.dataset.qualification === "pre");
    watch(id);
  });
})();
