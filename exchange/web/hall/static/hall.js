// 公共资源交易平台 — the bidding hall: countdown, live feed with resume, bidding controls with a confirm step.
// Bids are shown by 号牌 (bid number), as Chinese halls do; the viewer's own are marked 我. Every money bid
// passes a confirm dialog: the amount in figures and in 大写, the change over the current price, and a
// second explicit confirmation when it jumps more than the configured number of increments.
"use strict";

// Money as whole fen (分) and in capitals. HallMoney.upper is the page's adapter of Python's
// documents.formatting.yuan_upper (same rules, same output: a browser test holds them together).
const HallMoney = (() => {
  const DIGITS = "零壹贰叁肆伍陆柒捌玖";
  const PLACES = ["", "拾", "佰", "仟"];
  const GROUPS = ["", "万", "亿", "万亿", "亿亿"];

  // 1..9999 in capitals, with 零 for inner zeros (1005 -> 壹仟零伍)
  function group(number) {
    let out = "";
    let zero = false;
    for (const place of [3, 2, 1, 0]) {
      const digit = Math.floor(number / 10 ** place) % 10;
      if (digit === 0) {
        zero = out !== "";
        continue;
      }
      if (zero) {
        out += "零";
        zero = false;
      }
      out += DIGITS[digit] + PLACES[place];
    }
    return out;
  }

  function integer(number) {
    if (number === 0) return "零";
    const groups = [];
    for (let rest = number; rest; rest = Math.floor(rest / 10000)) groups.push(rest % 10000);
    if (groups.length > GROUPS.length) throw new RangeError("amount too large to write in capitals");
    let out = "";
    let gap = false;
    for (let index = groups.length - 1; index >= 0; index--) {
      const part = groups[index];
      if (part === 0) {
        gap = out !== "";
        continue;
      }
      if (out && (gap || part < 1000)) out += "零";
      out += group(part) + GROUPS[index];
      gap = false;
    }
    return out;
  }

  // 12345605 -> 壹拾贰万叁仟肆佰伍拾陆元零伍分 (whole fen; Number is exact up to 2^53 fen)
  function upper(fen) {
    if (fen < 0) return `负${upper(-fen)}`;
    const whole = Math.floor(fen / 100);
    const cents = fen % 100;
    const jiao = Math.floor(cents / 10);
    const fenDigit = cents % 10;
    if (whole === 0 && cents === 0) return "零元整";
    let out = whole ? `${integer(whole)}元` : "";
    if (cents === 0) return `${out}整`;
    if (jiao) out += `${DIGITS[jiao]}角`;
    else if (whole) out += "零";
    out += fenDigit ? `${DIGITS[fenDigit]}分` : "整";
    return out;
  }

  // "1,280,000.5" or "1280000.50" -> 128000050; null if it is not an amount with at most two decimals
  function fen(text) {
    if (text === null || text === undefined || text === "") return null;
    const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(String(text).trim().replace(/,/g, ""));
    if (!match) return null;
    const cents = Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
    // beyond 2^53 fen a Number is no longer exact: such an amount is no amount (the API caps far lower)
    return Number.isSafeInteger(cents) ? cents : null;
  }
  const yuan = (cents) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
  // 128000050 -> "1,280,000.50"
  function grouped(cents) {
    const sign = cents < 0 ? "-" : "";
    const [whole, part] = yuan(Math.abs(cents)).split(".");
    return `${sign}${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${part}`;
  }
  return Object.freeze({ upper, fen, yuan, grouped });
})();

(() => {
  const root = document.getElementById("hall");
  if (!root) return;
  const { fen, yuan, grouped, upper } = HallMoney;
  const data = root.dataset;
  const T = JSON.parse(document.getElementById("hall-texts").textContent);
  const $ = (selector) => root.querySelector(selector);
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, key) => values[key] ?? "");
  const listingId = data.listing;
  const method = data.method;
  const dutch = method === "dutch";
  const uniform = method === "uniform_price";
  const myNumber = data.myNumber || null;
  const tookPart = data.tookPart === "true";
  const sealed = data.sealed === "true";
  const canBid = data.canBid === "true";
  const jumpLimit = Number(data.jumpIncrements || 10);
  const api = `/api/v1/auctions/${listingId}`;
  const zone = { timeZone: "Asia/Shanghai", hour12: false };
  const localTime = (iso) => new Date(iso).toLocaleString("sv-SE", zone);
  const colon = data.lang === "en" ? ": " : "：";
  const paren = (text) => (data.lang === "en" ? ` (${text})` : `（${text}）`);

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
    leadingNumber: data.leadingBid || null,
    lastSeq: Number(data.lastSeq || 0),
    bidCount: Number($("[data-bid-count]")?.textContent || 0),
    final: false,
    reason: data.reason || null, // a cancellation's
    exists: data.auction === "true",
  };
  Exchange.syncClock(data.serverTime);

  // ---- drawing -------------------------------------------------------------------------------------
  const amountInput = $("[data-amount]");
  let edited = false; // the bidder typed a price: keep it unless it falls below the minimum
  amountInput?.addEventListener("input", () => { edited = true; });

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
    const leadingNumber = $("[data-leading-number]");
    if (leadingNumber) leadingNumber.textContent = state.leadingNumber || "—";
    const leading = $("[data-leading]");
    if (leading) {
      const shown = !!myNumber && state.leadingNumber !== null && state.status === "open";
      const me = state.leadingNumber === myNumber;
      leading.hidden = !shown;
      leading.textContent = paren(me ? T.leading_me : T.leading_other);
      leading.className = me ? "ok" : "warn";
    }
    const nextDrop = $("[data-next-drop]");
    if (nextDrop) {
      const shown = state.status === "open" && state.endsAt !== null;
      nextDrop.textContent = shown ? localTime(state.endsAt) : "—";
      if (shown) nextDrop.setAttribute("datetime", new Date(state.endsAt).toISOString());
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
    if (confirming) {
      if (state.status !== "open") closeConfirm(); // nothing left to confirm
      else if (confirming.kind === "accept" && state.current !== null && state.current !== confirming.amount) {
        openConfirm("accept", { amount: yuan(state.current) }); // the clock moved: show what would be sent now
      }
    }
  }

  function addRow({ seq, number, amount, at, quantity, mine }) {
    const body = $("[data-history]");
    if (!body || body.querySelector(`tr[data-seq="${seq}"]`)) return;
    const row = document.createElement("tr");
    row.dataset.seq = String(seq);
    row.className = `${mine ? "mine" : "other"} fresh`;
    const cell = (text, className = "") => {
      const td = document.createElement("td");
      td.textContent = text;
      if (className) td.className = className;
      row.appendChild(td);
      return td;
    };
    // date and time apart, so a narrow screen breaks the line between them, never inside a number
    const when = cell("", "at");
    localTime(at).split(" ").forEach((part, i) => {
      const span = document.createElement("span");
      span.textContent = part;
      if (i) when.append(" ");
      when.append(span);
    });
    const who = cell(number || "");
    if (mine) {
      const badge = document.createElement("span");
      badge.className = "me";
      badge.textContent = T.me;
      who.append(" ", badge);
    }
    cell(grouped(fen(amount)), "num");
    if (uniform) cell(quantity || "", "num");
    // Newest first; rows arrive in seq order, but the bidder's own reply may beat the feed.
    const later = [...body.rows].find((r) => Number(r.dataset.seq) < seq);
    body.insertBefore(row, later || null);
  }

  // ---- countdown (the server's clock itself is the footer's, app.js) -----------------------------------
  const countdown = $("[data-countdown]");
  const warning = $("[data-last-minute]"); // english and listing only: a bid then extends the close
  let refreshedAtZero = 0;
  function tick() {
    const now = Exchange.serverNow().getTime();
    let target = null;
    if (!state.exists) target = state.status === "scheduled" ? state.opensAt : null; // not if suspended or cancelled
    else if (state.status === "open") target = state.endsAt;
    if (target === null || Number.isNaN(target)) {
      countdown.textContent = state.final ? T.ended : "--:--";
      countdown.classList.remove("urgent");
      if (warning) warning.hidden = true;
      return;
    }
    const left = Math.max(0, target - now);
    const seconds = Math.ceil(left / 1000);
    const hours = Math.floor(seconds / 3600);
    const mmss = `${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
    countdown.textContent = hours ? `${hours}:${mmss}` : mmss;
    // A Dutch step is not a deadline: its clock just moves to the next price.
    const urgent = !dutch && state.exists && state.status === "open" && left > 0 && left <= 60000;
    countdown.classList.toggle("urgent", urgent);
    if (warning) warning.hidden = !urgent;
    // At zero the server decides (close, next phase, next Dutch step): ask it, at most once a second.
    if (state.exists && left === 0 && Date.now() - refreshedAtZero > 1000) {
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
    if (result.status === 404) { // gone (a replaced database, a test's reset): wait as before the opening
      state.exists = false;
      waitForOpening();
      return;
    }
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
    state.leadingNumber = view.leading_bid_number || null;
    if (typeof view.bid_count === "number") state.bidCount = view.bid_count;
    render();
    if (wasMissing) {
      $("[data-countdown-label]").textContent = T.time_left;
      connect();
    }
    if (["closed", "failed", "cancelled"].includes(view.status)) finish();
  }

  // Before the auction exists there is nothing to poll but the listing (the auction's own address would
  // answer 404 until then): sleep until the opening time, then ask the listing with a backoff whether
  // bidding has opened, or why not (suspended, cancelled) and when it opens now (a resumption moves it).
  let waitTimer = null;
  let waitDelay = 500;
  function waitForOpening(delay = 0) {
    clearTimeout(waitTimer);
    waitTimer = setTimeout(askListing, delay);
  }

  async function askListing() {
    if (state.exists || state.final) return;
    const early = state.opensAt - Exchange.serverNow().getTime();
    if (state.status !== "suspended" && early > 0) {
      waitForOpening(Math.min(early + 200, 60000));
      return;
    }
    const result = await Exchange.api("GET", `/api/v1/listings/${listingId}`);
    if (result.ok) {
      const listing = result.data;
      if (["bidding", "closed", "failed"].includes(listing.status)) { // the auction exists by now
        waitDelay = 500;
        await refresh();
        return;
      }
      if (listing.status === "cancelled") {
        state.status = "cancelled";
        state.reason = listing.status_reason || null;
        finish();
        return;
      }
      const status = listing.status === "suspended" ? "suspended" : "scheduled";
      const opensAt = Date.parse(listing.schedule.bidding_opens_at);
      if (status !== state.status || opensAt !== state.opensAt) waitDelay = 500; // news: look again soon
      state.status = status;
      state.opensAt = opensAt;
      connection.textContent = T.statuses[state.status];
      render();
    }
    waitForOpening(waitDelay);
    waitDelay = Math.min(waitDelay * 2, 3000);
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
      missing: () => { // no such auction (any more): wait for it through the listing
        live = null;
        state.exists = false;
        waitForOpening(2000);
      },
    });
  }

  function handle(event) { // from the feed: new, in seq order
    if (typeof event.seq === "number") state.lastSeq = event.seq; // where a new feed starts
    if (event.kind === "bid") {
      const mine = !!myNumber && event.bidder === myNumber;
      addRow({ seq: event.seq, number: event.bidder, amount: event.amount, at: event.at, quantity: event.quantity, mine });
      if (!sealed) state.current = fen(event.amount);
      if (event.ends_at) state.endsAt = Date.parse(event.ends_at);
      state.bidCount += 1;
      if (!sealed) state.leadingNumber = event.bidder;
      scheduleRefresh();
    } else if (event.kind === "price") { // the Dutch clock's next step
      state.current = fen(event.price);
      state.nextMin = state.current;
      state.endsAt = event.ends_at ? Date.parse(event.ends_at) : null;
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
  // "6.000" + "0.500" -> "6.500", exactly (a winner of a uniform-price auction may have several lines)
  function sumQuantities(values) {
    const places = Math.max(0, ...values.map((v) => (String(v).split(".")[1] || "").length));
    const total = values.reduce((sum, v) => {
      const [whole, part = ""] = String(v).split(".");
      return sum + BigInt(whole + part.padEnd(places, "0"));
    }, 0n);
    const digits = total.toString().padStart(places + 1, "0");
    return places ? `${digits.slice(0, -places)}.${digits.slice(-places)}` : digits;
  }

  function reasonText(code) {
    return T.reasons[code] || String(code).replace(/_/g, " ");
  }

  async function finish() {
    if (state.final) return;
    state.final = true;
    state.endsAt = null;
    state.phase = "ended";
    closeConfirm();
    clearTimeout(waitTimer);
    const controls = $("[data-controls]");
    if (controls) controls.hidden = true; // nothing left to bid on; the outcome says what happened
    live?.stop();
    connection.textContent = T.ended;
    delete connection.dataset.state;
    root.querySelectorAll("[data-next-drop-row]").forEach((node) => { node.hidden = true; });
    $("[data-countdown-label]").textContent = T.countdown;
    render();
    tick();
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
    // The auction row is closed in the transaction that published the result, so it is there to read.
    let result = null;
    for (let i = 0; i < 5 && !result; i++) {
      const response = await Exchange.api("GET", `/api/v1/results/${listingId}`);
      if (response.ok) result = response.data;
      else if (response.status === 404) break; // not published (a winner's review is pending)
      else await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    if (!result) { text.textContent = T.statuses[state.status] || state.status; return; }
    box.dataset.outcome = result.outcome;
    const unit = uniform ? T.price_unit : T.yuan;
    const mine = result.winners.filter((w) => !!myNumber && w.bid_number === myNumber);
    const won = mine.length > 0;
    if (result.outcome === "sold") {
      const price = `${grouped(fen(result.price))} ${unit}`;
      if (won && uniform) {
        const quantity = `${sumQuantities(mine.map((w) => w.quantity || "0"))} ${T.quantity_unit}`;
        text.textContent = fill(T.you_won_share, { title: T.title, quantity, price });
      } else if (won) {
        text.textContent = fill(T.you_won, { title: T.title, price });
      } else if (tookPart) {
        const numbers = [...new Set(result.winners.map((w) => w.bid_number))].join("、");
        text.textContent = fill(T.others_won, { numbers, price });
      } else {
        const winners = result.winners
          .filter((w, i, all) => all.findIndex((o) => o.bid_number === w.bid_number) === i)
          .map((w) => fill(T.winner_line, { name: w.name || "", number: w.bid_number }))
          .join("、");
        text.textContent = fill(T.public_won, { price, winners });
      }
      if (!uniform) {
        state.current = fen(result.price);
        $("[data-price-title]").textContent = T.final_price;
        const label = $("[data-leading-label]");
        if (label) label.textContent = T.winning_number;
        state.leadingNumber = result.winners[0]?.bid_number || state.leadingNumber;
      }
    } else {
      text.textContent = result.reason ? `${T.failed}${paren(reasonText(result.reason))}` : T.failed;
    }
    const floor = $("[data-floor]"); // the Dutch floor is the reserve, published with the result
    if (floor && result.reserve_price) floor.textContent = `${grouped(fen(result.reserve_price))} ${T.yuan}`;
    if (won) {
      box.classList.add("won");
      $("[data-outcome-next]").hidden = false;
    }
    const me = $("[data-outcome-me]");
    if (me) me.hidden = false;
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
      addRow({
        seq: bid.seq, number: bid.bid_number, amount: bid.amount, at: bid.accepted_at, quantity: bid.quantity,
        mine: bid.mine === true,
      });
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

  // ---- the confirm step ------------------------------------------------------------------------------
  const dialog = $("[data-confirm]");
  const okButton = $("[data-confirm-ok]");
  const jumpBox = $("[data-jump]");
  const jumpAck = $("[data-jump-ack]");
  let confirming = null; // {kind, body, amount}: the bid the open dialog would send

  // "+10,000.00 元（+1 个加价幅度）": a signed difference and how many steps of the grid it is
  function change(diff, words, unit) {
    const steps = increment ? diff / increment : 0;
    const count = Number.isInteger(steps) ? String(Math.abs(steps)) : Math.abs(steps).toFixed(2);
    const sign = diff > 0 ? "+" : diff < 0 ? "−" : "";
    return `${sign}${grouped(Math.abs(diff))} ${unit}${paren(sign + fill(words, { n: count }))}`;
  }

  function fact(list, label, value, name) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.dataset.fact = name;
    list.append(dt, dd);
  }

  // kind: "bid" (english, listing), "sealed" (sealed_bid, uniform_price), "accept" (dutch), "opt_in" (the cap)
  function openConfirm(kind, body) {
    const amount = fen(body.amount);
    confirming = { kind, body, amount };
    const facts = $("[data-confirm-facts]");
    facts.replaceChildren();
    $("[data-confirm-title]").textContent = T[`confirm_${kind}`];
    okButton.textContent = T[`ok_${kind}`];
    dialog.dataset.kind = kind;
    if (uniform && kind === "sealed") {
      // quantity x unit price: whole fen, rounded half up (the quantity has at most a few decimals)
      const [whole, part = ""] = body.quantity.split(".");
      const scale = 10n ** BigInt(part.length);
      const units = BigInt(whole + part) * BigInt(amount);
      const total = Number((units * 2n + scale) / (2n * scale));
      fact(facts, T.quantity, `${body.quantity} ${T.quantity_unit}`, "quantity");
      fact(facts, T.unit_price, `${grouped(amount)} ${T.price_unit}`, "price");
      fact(facts, T.total, `${grouped(total)} ${T.yuan}`, "total");
      fact(facts, T.in_words, `${T.rmb}${upper(total)}`, "words");
      fact(facts, T.over_start, change(amount - start, T.ticks, T.price_unit), "change");
    } else {
      const label = kind === "accept" ? T.accept_price : kind === "sealed" ? T.quote : T.amount;
      fact(facts, label, `${grouped(amount)} ${T.yuan}`, "amount");
      fact(facts, T.in_words, `${T.rmb}${upper(amount)}`, "words");
      // against the price the bidder sees: the clock's start for Dutch, the start price while none is
      // public (sealed, no bid yet), else the current price; accepting the cap has nothing to compare
      if (kind === "accept") fact(facts, T.over_start, change(amount - start, T.drops, T.yuan), "change");
      else if (kind !== "opt_in" && (sealed || state.current === null)) {
        fact(facts, T.over_start, change(amount - start, T.increments, T.yuan), "change");
      } else if (kind !== "opt_in") fact(facts, T.over_current, change(amount - state.current, T.increments, T.yuan), "change");
    }
    // A slipped digit (12,800,000 typed for 1,280,000) must not go through on one click.
    const minimum = state.nextMin ?? start;
    const over = kind === "bid" || kind === "sealed" ? (amount - minimum) / increment : 0;
    const jump = increment > 0 && over > jumpLimit;
    jumpBox.hidden = !jump;
    jumpAck.checked = false;
    if (jump) {
      const n = Number.isInteger(over) ? String(over) : over.toFixed(2);
      const unit = uniform ? T.price_unit : T.yuan;
      $("[data-jump-text]").textContent = fill(T.jump, {
        minimum: `${grouped(minimum)} ${unit}`, over: `${grouped(amount - minimum)} ${unit}`,
        steps: fill(uniform ? T.ticks : T.increments, { n }),
      });
    }
    okButton.disabled = jump;
    $("[data-confirm-note]").textContent = T[`${kind}_note`] || "";
    if (!dialog.open) {
      dialog.showModal();
      (jump ? jumpAck : okButton).focus();
    }
  }

  function closeConfirm() {
    confirming = null;
    if (dialog?.open) dialog.close();
  }

  jumpAck?.addEventListener("change", () => { okButton.disabled = !jumpAck.checked; });
  $("[data-confirm-cancel]")?.addEventListener("click", () => {
    closeConfirm();
    bidButton?.focus();
  });
  dialog?.addEventListener("close", () => { confirming = null; }); // Escape cancels too: nothing is sent
  okButton?.addEventListener("click", () => {
    if (!confirming || okButton.disabled) return;
    const { body } = confirming;
    closeConfirm();
    send(body);
  });

  // ---- bidding -------------------------------------------------------------------------------------
  const form = $("[data-bid-form]");
  const message = $("[data-bid-message]");
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

  // ---- signed bids (docs/bid-signatures.md) --------------------------------------------------------
  // The key is made here with WebCrypto (ECDSA P-256), its private half non-extractable: it never
  // leaves this browser, not even to the exchange. IndexedDB keeps the CryptoKey itself, one per
  // account and listing on this browser; the exchange keeps the public half (POST
  // /api/v1/users/me/keys), registered for this listing only: a key shared by listings would link
  // the bid numbers once the keys are published after the close.
  const signatures = data.signatures || "none";
  const places = Number(data.quantityPlaces || 0);
  const signingState = $("[data-signing-state]");
  const createKeyButton = $("[data-create-key]");
  let signingKey = null; // {kid, privateKey} once registered and not revoked
  const slot = `user:${data.userId || ""}:listing:${listingId}`;

  function keyStore(mode, action) {
    return new Promise((resolve, reject) => {
      const opened = indexedDB.open("exchange-bid-keys", 1);
      opened.onupgradeneeded = () => opened.result.createObjectStore("keys");
      opened.onerror = () => reject(opened.error);
      opened.onsuccess = () => {
        const db = opened.result;
        const tx = db.transaction("keys", mode);
        const request = action(tx.objectStore("keys"));
        tx.oncomplete = () => { db.close(); resolve(request.result); };
        tx.onerror = () => { db.close(); reject(tx.error); };
      };
    });
  }

  const b64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)));
  const b64url = (buffer) => b64(buffer).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  function showKey() {
    if (!signingState) return;
    signingState.textContent = signingKey ? fill(T.key_ready, { kid: signingKey.kid }) : T.key_none;
    signingState.dataset.state = signingKey ? "ready" : "none";
    if (createKeyButton) createKeyButton.hidden = Boolean(signingKey);
  }

  async function loadKey() {
    if (signatures === "none" || !canBid || !signingState) return;
    if (!window.indexedDB || !crypto.subtle) {
      signingState.textContent = T.key_unsupported;
      signingState.dataset.state = "unsupported";
      return;
    }
    try {
      const stored = await keyStore("readonly", (store) => store.get(slot));
      if (stored) {
        const listed = await Exchange.api("GET", `/api/v1/users/me/keys?listing_id=${Number(listingId)}`);
        const live = listed.ok && listed.data.some((k) => k.kid === stored.kid && !k.revoked_at);
        signingKey = live ? stored : null;
      }
    } catch {
      signingKey = null;
    }
    showKey();
  }

  async function createKey() {
    createKeyButton.disabled = true;
    signingState.textContent = T.key_creating;
    try {
      const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
      const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
      const label = `${T.key_label} ${new Date().toLocaleDateString("sv-SE", zone)}`;
      const registered = await Exchange.api(
        "POST", "/api/v1/users/me/keys", { listing_id: Number(listingId), public_key: b64(spki), label },
      );
      if (!registered.ok) throw new Error(registered.data?.detail || registered.data?.code || String(registered.status));
      const record = { kid: registered.data.kid, privateKey: pair.privateKey, publicKey: pair.publicKey };
      await keyStore("readwrite", (store) => store.put(record, slot));
      signingKey = record;
      showKey();
    } catch (error) {
      signingState.textContent = fill(T.key_failed, { reason: error?.message || String(error) });
      signingState.dataset.state = "failed";
    } finally {
      createKeyButton.disabled = false;
    }
  }
  createKeyButton?.addEventListener("click", createKey);

  // The quantity as the exchange writes it: the asset class's fixed places ("12.5" -> "12.500",
  // "12.5000" -> "12.500"; zero digits beyond the places are cut, as the exchange reads them).
  function canonicalQuantity(text) {
    if (text === undefined || text === null) return null;
    const [whole, fraction = ""] = String(text).split(".");
    let part = fraction;
    while (part.length > places && part.endsWith("0")) part = part.slice(0, -1);
    const digits = `${whole.replace(/^0+(?=\d)/, "")}`;
    return places || part ? `${digits}.${part.padEnd(places, "0")}` : digits;
  }

  async function nonceDigest(nonce) { // SHA-256 of the nonce, hex, as the exchange checks it
    if (nonce === undefined || nonce === null) return null;
    const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(nonce));
    return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // What the bidder signs: RFC 8785 of {context, listing_id, bidder_number, amount, quantity,
  // idempotency_key, last_seq, nonce_sha256}; for these values that is JSON.stringify with the keys
  // in sorted order.
  async function signed(body, key) {
    const lastSeq = state.lastSeq;
    const message = JSON.stringify({
      amount: yuan(fen(body.amount)),
      bidder_number: myNumber,
      context: "exchange-bid/1",
      idempotency_key: key,
      last_seq: lastSeq,
      listing_id: Number(listingId),
      nonce_sha256: await nonceDigest(body.nonce),
      quantity: canonicalQuantity(body.quantity),
    });
    const value = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" }, signingKey.privateKey, new TextEncoder().encode(message),
    );
    return { ...body, last_seq: lastSeq, signature: { kid: signingKey.kid, algorithm: "ES256", value: b64url(value) } };
  }

  async function send(fields) {
    const same = pending && JSON.stringify(pending.fields) === JSON.stringify(fields);
    if (!same && !signingKey && signatures === "required") {
      say(T.key_needed, "bad", "key_needed");
      createKeyButton?.focus();
      return;
    }
    const key = same ? pending.key : newKey();
    let body = same ? pending.body : { ...fields, nonce: newNonce() }; // a retry sends the same body
    if (!same && signingKey) body = await signed(body, key);
    pending = { key, fields, body };
    sending = true;
    render();
    const result = await Exchange.api("POST", `${api}/bids`, body, { "Idempotency-Key": key });
    sending = false;
    if (result.status === 0 || result.status >= 500) { // the answer is lost: a retry reuses the key
      say(result.status === 0 ? T.network : T.server_error, "bad", result.status === 0 ? "network_error" : "server_error");
      render();
      return;
    }
    pending = null;
    if (!result.ok) {
      // The API words its problem in the page's language (app.js asks for it): show that, not the code.
      say(result.data?.detail || result.data?.title || T.rejected, "bad", result.data?.code || String(result.status));
      scheduleRefresh();
      render();
      return;
    }
    const bid = result.data;
    const optIn = state.phase === "lottery";
    if (optIn) optedIn = true;
    const done = optIn ? T.opted_in : dutch ? T.accept_accepted : sealed ? T.sealed_accepted : T.accepted;
    say(`${done}${colon}${grouped(fen(bid.amount))} ${uniform ? T.price_unit : T.yuan}`, "ok", "accepted");
    // a sealed quote's answer carries no seq (it would count the others): its row is "mine" until the close
    if (!optIn) {
      addRow({ seq: bid.seq ?? "mine", number: myNumber, amount: bid.amount, at: bid.accepted_at, quantity: bid.quantity, mine: true });
    }
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
    });
  });

  $("[data-opt-in]")?.addEventListener("click", () => openConfirm("opt_in", { amount: data.priceCap }));

  form?.addEventListener("submit", (event) => {
    event.preventDefault();
    if (bidButton?.dataset.mode === "accept") {
      // Dutch: a bid is the clock's price at the instant it is taken.
      if (state.current !== null) openConfirm("accept", { amount: yuan(state.current) });
      return;
    }
    const amount = fen(amountInput.value);
    if (amount === null) {
      amountInput.setAttribute("aria-invalid", "true");
      say(T.invalid_amount, "bad", "amount_invalid");
      amountInput.focus();
      return;
    }
    amountInput.removeAttribute("aria-invalid");
    const body = { amount: yuan(amount) };
    const quantity = $("[data-quantity]");
    if (quantity) {
      body.quantity = quantity.value.trim().replace(/,/g, "");
      if (!/^\d+(\.\d+)?$/.test(body.quantity)) {
        quantity.setAttribute("aria-invalid", "true");
        say(T.invalid_quantity, "bad", "quantity_invalid");
        quantity.focus();
        return;
      }
      quantity.removeAttribute("aria-invalid");
    }
    openConfirm(sealed ? "sealed" : "bid", body);
  });

  // ---- start ---------------------------------------------------------------------------------------
  loadKey();
  render();
  tick();
  setInterval(tick, 250);
  if (["closed", "failed", "cancelled"].includes(state.status)) finish();
  else if (state.exists) connect();
  else {
    connection.textContent = T.statuses[state.status] || state.status;
    waitForOpening();
  }
  // A sealed auction's events stay private until its close (their seq would count the quotes), so its
  // feed says nothing of a suspension or a cancellation: such a hall asks now and then.
  // So do the acceptances of a cap lottery and the operator's events meanwhile (their seq would count the takers).
  setInterval(() => { if (state.exists && !state.final && (sealed || state.phase === "lottery")) refresh(); }, 5000);
})();
