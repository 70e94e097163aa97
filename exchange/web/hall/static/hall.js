// 公共资源交易平台 — the bidding hall: server clock and countdown, live feed with resume, bidding controls.
// The page never shows a bid number but the viewer's own: feed events carry them, the history says only
// "my bid" / "other bid" until the close.
"use strict";

(() => {
  const root = document.getElementById("hall");
  if (!root) return;
  const data = root.dataset;
  const T = JSON.parse(document.getElementById("hall-texts").textContent);
  const $ = (selector) => root.querySelector(selector);
  const listingId = data.listing;
  const method = data.method;
  const myNumber = data.myNumber || null;
  const sealed = data.sealed === "true";
  const canBid = data.canBid === "true";
  const api = `/api/v1/auctions/${listingId}`;
  const zone = { timeZone: "Asia/Shanghai", hour12: false };

  // Money as integer fen, so +/- an increment never drifts by a float cent.
  function fen(text) {
    if (text === null || text === undefined || text === "") return null;
    const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(String(text).trim().replace(/,/g, ""));
    if (!match) return null;
    return Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
  }
  const yuan = (cents) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
  const grouped = (cents) => {
    const [whole, part] = yuan(cents).split(".");
    return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${part}`;
  };
  const localTime = (iso) => new Date(iso).toLocaleString("sv-SE", zone);

  const start = fen(data.startPrice);
  const increment = fen(data.increment);
  const divisor = data.unitDivisor ? Number(data.unitDivisor) : null;
  const state = {
    status: data.status,
    phase: data.phase,
    endsAt: data.endsAt ? Date.parse(data.endsAt) : null,
    opensAt: Date.parse(data.opensAt),
    current: fen(data.currentPrice),
    nextMin: fen(data.nextMinBid),
    lastSeq: Number(data.lastSeq || 0),
    bidCount: Number($("[data-bid-count]")?.textContent || 0),
    leading: null,
    final: false,
    reason: data.reason || null, // a cancellation's
    exists: data.auction === "true",
  };
  Exchange.syncClock(data.serverTime);

  // ---- drawing -------------------------------------------------------------------------------------
  const amountInput = $("[data-amount]");
  let edited = false; // the bidder typed a price: keep it unless it falls below the minimum
  amountInput?.addEventListener("input", () => { edited = true; resetConfirm(); });

  function render() {
    const status = $("[data-hall-status]");
    if (status) status.textContent = T.statuses[state.status] || state.status;
    const phase = $("[data-hall-phase]");
    if (phase && state.phase) phase.textContent = T.phases[state.phase] || state.phase;
    const price = $("[data-price-now]");
    if (price) price.textContent = state.current === null ? "—" : grouped(state.current);
    const unit = $("[data-unit-price]");
    if (unit) unit.textContent = state.current !== null && divisor ? (state.current / 100 / divisor).toFixed(2) : "—";
    const premium = $("[data-premium]");
    if (premium) premium.textContent = state.current !== null && start ? `${(((state.current - start) / start) * 100).toFixed(2)}%` : "—";
    const count = $("[data-bid-count]");
    if (count) count.textContent = String(state.bidCount);
    const leading = $("[data-leading]");
    if (leading && myNumber) {
      const shown = state.leading !== null && state.status === "open";
      leading.hidden = !shown;
      $("[data-leading-label]").hidden = !shown;
      leading.textContent = state.leading === "me" ? T.leading_me : T.leading_other;
      leading.className = state.leading === "me" ? "ok" : "warn";
    }
    const nextMin = $("[data-next-min]");
    if (nextMin) nextMin.textContent = state.nextMin === null ? "—" : grouped(state.nextMin);
    if (amountInput && state.nextMin !== null) {
      const typed = fen(amountInput.value);
      if (!edited || typed === null || (!sealed && typed < state.nextMin)) amountInput.value = yuan(state.nextMin);
    }
    const lottery = $("[data-lottery]");
    const inLottery = state.phase === "lottery" && state.status === "open";
    if (lottery) lottery.hidden = !inLottery;
    // In the cap lottery the only bid left is accepting the cap.
    const priceControls = $("[data-price-controls]");
    if (priceControls) priceControls.hidden = inLottery;
    const extends_ = $("[data-extends]");
    if (extends_) extends_.hidden = inLottery;
    const form = $("[data-bid-form]");
    if (form) form.querySelectorAll("button, input").forEach((el) => { el.disabled = state.status !== "open" || sending; });
    const optIn = $("[data-opt-in]");
    if (optIn && optedIn) optIn.disabled = true;
  }

  function addRow({ seq, amount, at, quantity, mine }) {
    const body = $("[data-history]");
    if (!body || body.querySelector(`tr[data-seq="${seq}"]`)) return;
    const row = document.createElement("tr");
    row.dataset.seq = String(seq);
    row.className = `${mine ? "mine" : "other"} fresh`;
    const cells = [localTime(at), grouped(fen(amount))];
    if (method === "uniform_price") cells.push(quantity || "");
    cells.push(mine ? T.my_bid : T.other_bid);
    cells.forEach((text, i) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (i === 1 || (method === "uniform_price" && i === 2)) cell.className = "num";
      row.appendChild(cell);
    });
    // Newest first; rows arrive in seq order, but the bidder's own reply may beat the feed.
    const later = [...body.rows].find((r) => Number(r.dataset.seq) < seq);
    body.insertBefore(row, later || null);
  }

  // ---- clock ---------------------------------------------------------------------------------------
  const countdown = $("[data-countdown]");
  const warning = $("[data-last-minute]");
  let refreshedAtZero = 0;
  function tick() {
    const now = Exchange.serverNow().getTime();
    const clock = $("[data-hall-clock]");
    if (clock) clock.textContent = new Date(now).toLocaleString("sv-SE", zone);
    let target = null;
    if (!state.exists) target = state.status === "scheduled" ? state.opensAt : null; // not if suspended or cancelled
    else if (state.status === "open") target = state.endsAt;
    if (target === null || Number.isNaN(target)) {
      countdown.textContent = state.final ? T.ended : "--:--";
      countdown.classList.remove("urgent");
      warning.hidden = true;
      return;
    }
    const left = Math.max(0, target - now);
    const seconds = Math.ceil(left / 1000);
    const hours = Math.floor(seconds / 3600);
    const mmss = `${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
    countdown.textContent = hours ? `${hours}:${mmss}` : mmss;
    const urgent = state.exists && state.status === "open" && left > 0 && left <= 60000;
    countdown.classList.toggle("urgent", urgent);
    warning.hidden = !urgent;
    // At zero the server decides (close, next phase, next Dutch step): ask it, at most once a second.
    if (left === 0 && Date.now() - refreshedAtZero > 1000) {
      refreshedAtZero = Date.now();
      refresh();
    }
  }

  // ---- the auction's state from the API ------------------------------------------------------------
  let refreshTimer = null;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 150);
  }

  async function refresh() {
    const sentAt = Date.now();
    const result = await Exchange.api("GET", api);
    if (result.status === 404) return listingNews(); // bidding has not opened yet
    if (!result.ok) return;
    const view = result.data;
    Exchange.syncClock(view.server_time, sentAt);
    const wasMissing = !state.exists;
    state.exists = true;
    state.status = view.status;
    state.phase = view.phase;
    state.endsAt = view.ends_at ? Date.parse(view.ends_at) : null;
    state.current = fen(view.current_price);
    state.nextMin = fen(view.next_min_bid);
    if (typeof view.bid_count === "number") state.bidCount = view.bid_count;
    state.leading = view.leading_bid_number ? (view.leading_bid_number === myNumber ? "me" : "other") : null;
    render();
    if (wasMissing) {
      $("[data-countdown-label]").textContent = T.time_left;
      connect();
    }
    if (["closed", "failed", "cancelled"].includes(view.status)) finish();
  }

  // No auction yet. Once the opening time has passed, the listing says why (suspended, cancelled) or
  // when bidding opens now (a resumption moves it); until then there is nothing to ask.
  async function listingNews() {
    if (state.status !== "suspended" && Exchange.serverNow().getTime() < state.opensAt) return;
    const result = await Exchange.api("GET", `/api/v1/listings/${listingId}`);
    if (!result.ok) return;
    const listing = result.data;
    if (listing.status === "cancelled") {
      state.status = "cancelled";
      state.reason = listing.status_reason || null;
      finish();
      return;
    }
    state.status = listing.status === "suspended" ? "suspended" : "scheduled";
    state.opensAt = Date.parse(listing.schedule.bidding_opens_at);
    connection.textContent = T.statuses[state.status];
    render();
  }

  // ---- live feed -----------------------------------------------------------------------------------
  const connection = $("[data-connection]");
  let live = null;
  function connect() {
    if (state.final || live) return;
    live = Exchange.feed(listingId, state.lastSeq, {
      event: handle,
      state: (name) => {
        if (name === "live") {
          connection.textContent = T.live;
          connection.dataset.state = "live";
          scheduleRefresh(); // whatever happened while we were away
        } else if (name === "reconnecting") {
          connection.textContent = T.reconnecting;
          connection.dataset.state = "reconnecting";
        }
      },
      missing: () => { // no such auction (any more): ask the API again in a moment
        live = null;
        state.exists = false;
        setTimeout(refresh, 2000);
      },
    });
  }

  function handle(event) { // from the feed: new, in seq order
    if (typeof event.seq === "number") state.lastSeq = event.seq; // where a new feed starts
    if (event.kind === "bid") {
      addRow({ seq: event.seq, amount: event.amount, at: event.at, quantity: event.quantity, mine: !!myNumber && event.bidder === myNumber });
      if (!sealed) state.current = fen(event.amount);
      if (event.ends_at) state.endsAt = Date.parse(event.ends_at);
      state.bidCount += 1;
      state.leading = myNumber && event.bidder === myNumber ? "me" : "other";
      scheduleRefresh();
    } else if (event.kind === "extended") {
      state.endsAt = Date.parse(event.to);
      const note = $("[data-extended]");
      note.hidden = false;
      note.textContent = `${T.extended} ${localTime(event.to)}`;
    } else if (event.kind === "phase") {
      state.phase = event.phase;
      state.endsAt = event.ends_at ? Date.parse(event.ends_at) : null;
      scheduleRefresh();
    } else if (event.kind === "suspended") {
      state.status = "suspended"; // the clock stands still until the operator resumes
      state.endsAt = null;
    } else if (event.kind === "resumed") {
      state.status = "open";
      state.endsAt = event.ends_at ? Date.parse(event.ends_at) : null;
      scheduleRefresh();
    } else if (event.kind === "closed" || event.kind === "failed" || event.kind === "cancelled") {
      state.status = event.kind;
      state.reason = event.reason || null;
      finish();
    }
    render();
  }

  // ---- the close -----------------------------------------------------------------------------------
  async function finish() {
    if (state.final) return;
    state.final = true;
    state.endsAt = null;
    state.phase = "ended";
    const controls = $("[data-controls]");
    if (controls && canBid) controls.hidden = true; // nothing left to bid on
    live?.stop();
    connection.textContent = T.ended;
    render();
    const box = $("[data-outcome]");
    const text = $("[data-outcome-text]");
    box.hidden = false;
    if (state.status === "cancelled") { // 终止: there is no result to wait for
      if (!state.reason) { // the event carries it; a page that learnt of it otherwise asks
        const listing = await Exchange.api("GET", `/api/v1/listings/${listingId}`);
        if (listing.ok) state.reason = listing.data.status_reason || null;
      }
      text.textContent = state.reason ? `${T.statuses.cancelled} (${state.reason})` : T.statuses.cancelled;
      render();
      box.focus();
      return;
    }
    let result = null;
    for (let i = 0; i < 20 && !result; i++) {
      const response = await Exchange.api("GET", `/api/v1/results/${listingId}`);
      if (response.ok) result = response.data;
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (!result) { text.textContent = T.statuses[state.status] || state.status; return; }
    box.dataset.outcome = result.outcome;
    const won = !!myNumber && result.winners.some((w) => w.bid_number === myNumber);
    if (result.outcome === "sold") {
      const names = result.winners.map((w) => `${w.name || ""} (${w.bid_number})`).join("、");
      text.textContent = `${T.sold} ${grouped(fen(result.price))} ${T.yuan} · ${T.winners}: ${names}` +
        (myNumber ? ` · ${won ? T.you_won : T.you_lost}` : "");
      state.current = fen(result.price);
    } else {
      text.textContent = result.reason ? `${T.failed} (${result.reason})` : T.failed;
    }
    if (sealed) {
      await reloadHistory();
      const note = $("[data-sealed-note]");
      if (note) note.hidden = true;
    }
    render();
    box.focus();
    if (won) offerConfirmation();
  }

  async function reloadHistory() {
    const response = await Exchange.api("GET", `${api}/bids`);
    if (!response.ok) return;
    $("[data-history]")?.querySelector('tr[data-seq="mine"]')?.remove(); // the revealed record has it with its seq
    for (const bid of response.data) {
      addRow({ seq: bid.seq, amount: bid.amount, at: bid.accepted_at, quantity: bid.quantity, mine: bid.mine === true });
    }
  }

  // The winner's confirmation is issued shortly after the close; the owner may list it.
  async function offerConfirmation() {
    const slot = $("[data-confirmation]");
    for (let i = 0; i < 30; i++) {
      const response = await Exchange.api("GET", `/api/v1/documents?listing_id=${listingId}`);
      if (!response.ok || !Array.isArray(response.data)) return; // no listing of own documents here
      const confirmation = response.data.find((doc) => doc.kind === "confirmation");
      if (confirmation) {
        const link = document.createElement("a");
        link.href = confirmation.url;
        link.className = "button";
        link.textContent = T.confirmation;
        slot.replaceChildren(link);
        slot.hidden = false;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  // ---- bidding -------------------------------------------------------------------------------------
  const form = $("[data-bid-form]");
  const message = $("[data-bid-message]");
  const confirmButton = $("[data-confirm-button]");
  const bidButton = $("[data-bid-button]");
  let sending = false;
  let optedIn = false;
  let pending = null; // {key, body}: an attempt whose answer never came; a retry reuses its key

  const newKey = () => (crypto.randomUUID ? crypto.randomUUID()
    : [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join(""));
  // This bidder's own entropy for a draw (an acceptance of the cap needs one): drawn here, in the
  // browser, so nobody else chooses it; the exchange keeps it secret until the result.
  const newNonce = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");

  function say(text, kind, code = "") {
    message.textContent = text;
    message.className = `bid-message ${kind}`;
    message.dataset.code = code;
  }

  function resetConfirm() {
    if (!confirmButton) return;
    confirmButton.hidden = true;
    if (bidButton) bidButton.hidden = false;
  }

  async function send(fields) {
    const same = pending && JSON.stringify(pending.fields) === JSON.stringify(fields);
    const key = same ? pending.key : newKey();
    const body = same ? pending.body : { ...fields, nonce: newNonce() }; // a retry sends the same body
    pending = { key, fields, body };
    sending = true;
    render();
    const result = await Exchange.api("POST", `${api}/bids`, body, { "Idempotency-Key": key });
    sending = false;
    if (result.status === 0 || result.status >= 500) {
      say(`${T.network}: ${result.data?.detail || result.status}`, "bad", result.data?.code || "network_error");
      render();
      return;
    }
    pending = null;
    resetConfirm();
    if (!result.ok) {
      const code = result.data?.code || "";
      const detail = result.data?.detail || result.data?.title || String(result.status);
      say(T.errors[code] ? `${T.errors[code]}${data.lang === "en" ? ": " : "："}${detail}` : detail, "bad", code);
      scheduleRefresh();
      render();
      return;
    }
    const bid = result.data;
    const optIn = state.phase === "lottery";
    if (optIn) optedIn = true;
    say(`${optIn ? T.opted_in : sealed ? T.sealed_accepted : T.accepted}: ${grouped(fen(bid.amount))} ${T.yuan}`, "ok", "accepted");
    // a sealed quote's answer carries no seq (it would count the others): its row is "mine" until the close
    if (!optIn) addRow({ seq: bid.seq ?? "mine", amount: bid.amount, at: bid.accepted_at, quantity: bid.quantity, mine: true });
    if (bid.ends_at) state.endsAt = Date.parse(bid.ends_at);
    edited = false;
    scheduleRefresh();
    render();
  }

  root.querySelectorAll("[data-step]").forEach((button) => {
    button.addEventListener("click", () => {
      const base = fen(amountInput.value) ?? state.nextMin ?? start;
      let next = base + Number(button.dataset.step) * increment;
      const floor = sealed ? start : state.nextMin ?? start;
      if (next < floor) next = floor;
      amountInput.value = yuan(next);
      edited = true;
      resetConfirm();
    });
  });

  $("[data-opt-in]")?.addEventListener("click", () => send({ amount: data.priceCap }));

  form?.addEventListener("submit", (event) => {
    event.preventDefault();
    const mode = event.submitter?.dataset.mode;
    if (bidButton?.dataset.mode === "accept") {
      // Dutch: a bid is the clock's price at the instant it is taken.
      if (state.current !== null) send({ amount: yuan(state.current) });
      return;
    }
    const amount = fen(amountInput.value);
    if (amount === null) {
      amountInput.setAttribute("aria-invalid", "true");
      say(amountInput.labels[0].textContent, "bad", "amount_invalid");
      amountInput.focus();
      return;
    }
    amountInput.removeAttribute("aria-invalid");
    const body = { amount: yuan(amount) };
    const quantity = $("[data-quantity]");
    if (quantity) body.quantity = quantity.value.trim();
    if (mode === "sealed") {
      // A sealed quote is final: ask once more, showing the amount.
      bidButton.hidden = true;
      confirmButton.hidden = false;
      confirmButton.textContent = `${T.confirm}: ${grouped(amount)} ${T.yuan}`;
      confirmButton.focus();
      return;
    }
    send(body);
  });

  // ---- start ---------------------------------------------------------------------------------------
  render();
  tick();
  setInterval(tick, 250);
  if (["closed", "failed", "cancelled"].includes(state.status)) finish();
  else if (state.exists) connect();
  else connection.textContent = T.statuses[state.status] || state.status;
  // A sealed auction's events stay private until its close (their seq would count the quotes), so its
  // feed says nothing of a suspension or a cancellation: such a hall asks now and then.
  // So do the acceptances of a cap lottery and the operator's events meanwhile (their seq would count the takers).
  setInterval(() => { if (state.exists && !state.final && (sealed || state.phase === "lottery")) refresh(); }, 5000);
  // Before bidding opens there is no feed: ask now and then whether it has.
  const waiting = setInterval(() => { if (state.exists || state.final) clearInterval(waiting); else refresh(); }, 2000);
})();
