/* Switchboard web UI: the small amount of behaviour htmx does not cover.
 * - relative times that stay fresh
 * - the approval queue: keyboard shortcuts, bulk selection, refreshes that never clobber an open form
 * - chat: a fetch()-based reader of the server-sent event stream (EventSource cannot POST);
 *   `delta` events grow the answer as it is written, `message` then sets the whole text
 * No build step, no dependencies. */
(function () {
  "use strict";

  // ---------------------------------------------------------------- relative times
  function reltime(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return null;
    const s = (Date.now() - t) / 1000;
    const future = s < 0;
    const a = Math.abs(s);
    let text;
    if (a < 45) return future ? "in a moment" : "just now";
    if (a < 3600) text = Math.max(1, Math.round(a / 60)) + " min";
    else if (a < 86400) text = Math.round(a / 3600) + " h";
    else if (a < 2 * 86400 && !future) return "yesterday";
    else if (a < 7 * 86400) text = Math.round(a / 86400) + " days";
    else return null; // older: keep the server's date
    return future ? "in " + text : text + " ago";
  }
  function refreshTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      const text = reltime(el.getAttribute("datetime"));
      if (text && el.textContent !== text) el.textContent = text;
    });
  }
  setInterval(refreshTimes, 30000);

  // Invisible and direction-changing characters (Unicode Cf) shown as a marker, as the server's
  // pages show them (app/web/present.py `visible`): they cannot paint one value as another.
  const INVISIBLE = /[\u00ad\u034f\u061c\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufe00-\ufe0f\ufeff\ufff9-\ufffb]|\ud82f[\udca0-\udca3]|\udb40[\udc00-\udc7f\udd00-\uddef]/g;
  function visible(text) {
    return text.replace(INVISIBLE, function (c) {
      return "⟨U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0") + "⟩";
    });
  }
  function esc(value) {
    const d = document.createElement("div");
    d.textContent = value == null ? "" : visible(String(value));
    return d.innerHTML;
  }
  function inlineArgs(args) {
    if (!args || typeof args !== "object") return "";
    const line = Object.keys(args).map(function (k) {
      const v = JSON.stringify(args[k]);
      return k + "=" + (v && v.length > 40 ? v.slice(0, 37) + "…" : v);
    }).join(", ");
    return line.length > 90 ? line.slice(0, 89) + "…" : line;
  }
  function pretty(value) {
    if (typeof value === "string") {
      try { value = JSON.parse(value); } catch (e) { return value; }
    }
    return JSON.stringify(value, null, 2);
  }

  // ---------------------------------------------------------------- small helpers on every page
  document.addEventListener("submit", function (e) {
    const form = e.target;
    if (form.matches && form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
    }
  });
  document.addEventListener("click", function (e) {
    const copy = e.target.closest("[data-copy]");
    if (copy) {
      const input = document.querySelector(copy.dataset.copy);
      if (input) {
        input.select();
        (navigator.clipboard ? navigator.clipboard.writeText(input.value) : Promise.reject())
          .catch(function () { document.execCommand("copy"); });
        copy.textContent = "Copied";
      }
    }
  });

  // ---------------------------------------------------------------- the approval queue
  let cursorId = null;
  let cursorVersion = null; // the arguments' version the approver selected: a key acts on that only
  let seenIds = null;

  function items() { return Array.from(document.querySelectorAll("#queue-list .queue-item")); }
  function cursorItem() { return cursorId ? document.getElementById("a-" + cursorId) : null; }
  function versionOf(el) {
    const v = el && el.querySelector('input[name="version"]');
    return v ? v.value : null;
  }
  function setCursor(el, scroll) {
    items().forEach(function (x) { x.classList.remove("cursor"); });
    if (!el) { cursorId = null; cursorVersion = null; return; }
    el.classList.add("cursor");
    cursorId = el.dataset.id;
    cursorVersion = versionOf(el);
    if (scroll) {
      el.scrollIntoView({ block: "nearest" });
      el.focus({ preventScroll: true });
    }
  }
  function move(delta) {
    const list = items();
    if (!list.length) return;
    const i = list.indexOf(cursorItem());
    const next = i < 0 ? (delta > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, i + delta));
    setCursor(list[next], true);
  }
  function openReject(item) {
    const form = item && item.querySelector(".reject-form");
    if (!form) return;
    form.classList.add("open");
    const input = form.querySelector("input[name=reason]");
    if (input) input.focus();
  }
  function closeForms(item) {
    if (!item) return;
    item.querySelectorAll(".reject-form.open").forEach(function (f) { f.classList.remove("open"); });
    const cancel = item.querySelector(".edit-form [hx-get]");
    if (cancel) cancel.click();
  }
  function updateBulk() {
    const checked = document.querySelectorAll(".bulk-check:checked").length;
    const count = document.getElementById("bulk-count");
    if (count) count.textContent = checked + " selected";
    document.querySelectorAll("[data-bulk]").forEach(function (b) { b.disabled = checked === 0; });
  }
  function busyEditing() {
    const panel = document.getElementById("queue-panel");
    if (!panel) return false;
    if (panel.querySelector("[data-editing], .reject-form.open")) return true;
    const active = document.activeElement;
    return !!(active && panel.contains(active) && active.matches("input[type=text], input:not([type]), textarea") && active.value);
  }

  document.addEventListener("click", function (e) {
    const open = e.target.closest("[data-reject-open]");
    if (open) { openReject(open.closest(".queue-item")); return; }
    const cancel = e.target.closest("[data-reject-cancel]");
    if (cancel) { cancel.closest(".reject-form").classList.remove("open"); return; }
    if (e.target.closest("[data-help]")) { const h = document.getElementById("help"); if (h) h.showModal(); return; }
    const item = e.target.closest(".queue-item");
    if (item && !e.target.closest("a, button, input, textarea, select, summary")) setCursor(item, false);
  });
  document.addEventListener("change", function (e) {
    if (e.target.id === "select-all-low") {
      document.querySelectorAll(".bulk-check").forEach(function (c) { c.checked = e.target.checked; });
    }
    if (e.target.matches(".bulk-check, #select-all-low")) updateBulk();
  });

  document.addEventListener("keydown", function (e) {
    if (e.metaKey || e.ctrlKey || e.altKey) return;
    const typing = e.target.closest && e.target.closest("input, textarea, select, [contenteditable]");
    if (typing) {
      if (e.key === "Escape") {
        const item = e.target.closest(".queue-item");
        e.target.blur();
        closeForms(item);
        if (item) setCursor(item, true);
      }
      return;
    }
    if (!document.getElementById("queue-panel")) return;
    let item = cursorItem();
    switch (e.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "?": { const h = document.getElementById("help"); if (h && !h.open) h.showModal(); break; }
      case "Escape": closeForms(item); break;
      case "a": case "e": case "r": case "x": case "o": {
        // Nothing selected: the key selects the first item and shows it, and does nothing else;
        // a decision is only ever taken on an item the approver has seen selected.
        if (!item) { move(1); e.preventDefault(); return; }
        if (e.key === "r") { openReject(item); e.preventDefault(); break; }
        if (e.key === "x") { const c = item.querySelector(".bulk-check"); if (c) { c.checked = !c.checked; updateBulk(); } break; }
        if (e.key === "o") { const l = item.querySelector(".run-link"); if (l) window.location.href = l.href; break; }
        const button = item.querySelector('[data-key="' + e.key + '"]');
        if (button && !button.disabled) { e.preventDefault(); button.click(); }
        break;
      }
      default: return;
    }
  });

  // A refresh of the whole queue panel never replaces a form someone is typing in: it waits
  // (the page's stamp stays old, so the next poll asks again). Selection and cursor survive it.
  document.addEventListener("htmx:beforeRequest", function (e) {
    const elt = e.detail.elt;
    if (elt && elt.id === "queue-panel" && e.detail.requestConfig && e.detail.requestConfig.verb === "get" && busyEditing()) {
      e.preventDefault();
    }
  });
  let decidedHere = null; // the item this page last sent a decision or an edit for
  document.addEventListener("htmx:beforeRequest", function (e) {
    const elt = e.detail.elt;
    const item = elt && elt.closest && elt.closest(".queue-item");
    if (item && e.detail.requestConfig && e.detail.requestConfig.verb !== "get") decidedHere = item.dataset.id;
  });
  let keepChecked = [];
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "queue-panel") {
      keepChecked = Array.from(document.querySelectorAll(".bulk-check:checked")).map(function (c) { return c.value; });
      seenIds = new Set(items().map(function (x) { return x.dataset.id; }));
    }
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    const target = e.detail.target;
    refreshTimes(target && target.isConnected ? target : document);
    if (!document.getElementById("queue-panel")) return;
    keepChecked.forEach(function (id) {
      const c = document.querySelector('.bulk-check[value="' + id + '"]');
      if (c) c.checked = true;
    });
    keepChecked = [];
    if (seenIds) {
      items().forEach(function (x) { if (!seenIds.has(x.dataset.id)) x.classList.add("fresh"); });
      seenIds = null;
    }
    const cur = cursorItem();
    if (cursorId && cursorId === decidedHere) {
      // The approver's own decision or edit: taken off the queue, or its new version is theirs.
      decidedHere = null;
      if (!cur) setCursor(null, false);
      else { cursorVersion = versionOf(cur); cur.classList.add("cursor"); }
    } else if (target && target.id === "queue-panel" && cursorId && (!cur || versionOf(cur) !== cursorVersion)) {
      // Decided by someone else, or its arguments changed: the selection is dropped, so a key
      // never acts on an item other than the one the approver selected and read.
      const gone = !cur;
      setCursor(null, false);
      notice(gone ? "The item you had selected was decided by someone else." : "The item you had selected changed: read it again.");
    } else if (cur) cur.classList.add("cursor");
    focusEditForm(target);
    updateBulk();
  });
  function notice(text) {
    const panel = document.getElementById("queue-panel");
    if (!panel) return;
    let box = document.getElementById("queue-notice");
    if (!box) {
      box = document.createElement("p");
      box.id = "queue-notice";
      box.className = "notice";
      box.setAttribute("role", "status");
      panel.parentNode.insertBefore(box, panel);
    }
    box.textContent = text;
  }
  // An edit form takes the focus once htmx has settled it (its buttons work from then on), unless
  // someone already chose one of its fields in those 20 ms: their keystrokes must not move.
  function focusEditForm(target) {
    if (!target || !target.isConnected || !target.closest(".queue-item")) return;
    const form = target.querySelector(".edit-form");
    if (!form || form.contains(document.activeElement)) return;
    const first = form.querySelector("textarea, input:not([type=hidden])");
    if (first) first.focus();
  }

  // ---------------------------------------------------------------- chat
  async function readEvents(response, onEvent) {
    // Server-sent events over fetch: blocks separated by a blank line; `event:` and `data:` fields.
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    function dispatch(block) {
      let event = "message";
      const data = [];
      block.split("\n").forEach(function (line) {
        if (!line || line[0] === ":") return;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let value = i < 0 ? "" : line.slice(i + 1);
        if (value[0] === " ") value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      });
      if (!data.length) return;
      let parsed = data.join("\n");
      try { parsed = JSON.parse(parsed); } catch (err) { /* plain text */ }
      onEvent(event, parsed);
    }
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
      let i;
      while ((i = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, i));
        buffer = buffer.slice(i + 2);
      }
    }
    if (buffer.trim()) dispatch(buffer);
  }

  function initChat() {
    const root = document.getElementById("chat");
    if (!root) return;
    const log = document.getElementById("chat-log");
    const form = document.getElementById("chat-form");
    const input = document.getElementById("chat-input");
    const send = document.getElementById("chat-send");
    const tpl = document.getElementById("tpl-turn");
    const canApprove = root.dataset.canApprove === "true";
    const me = root.dataset.user;
    let conversationId = new URLSearchParams(window.location.search).get("c");
    let busy = false;

    function scroll() { log.scrollTop = log.scrollHeight; }
    function hideEmpty() { const e = document.getElementById("chat-empty"); if (e) e.hidden = true; }
    function remember(id) {
      conversationId = id;
      window.history.replaceState(null, "", "/ui/chat?c=" + encodeURIComponent(id));
    }

    function Turn(message) {
      hideEmpty();
      const node = tpl.content.firstElementChild.cloneNode(true);
      node.querySelector(".me .text").textContent = visible(message);
      log.appendChild(node);
      const bot = node.querySelector(".bot");
      const status = bot.querySelector(".status");
      const statusText = bot.querySelector(".status-text");
      const tools = bot.querySelector(".tools");
      const toolList = bot.querySelector(".tool-list");
      const approvals = bot.querySelector(".approvals");
      const answer = bot.querySelector(".answer");
      const meta = bot.querySelector(".meta");
      const turn = { runId: null, lastSeq: 0, tokensIn: 0, tokensOut: 0, cards: {}, streaming: false };
      scroll();

      function setStatus(text, spinning) {
        status.classList.remove("done");
        statusText.textContent = text;
        const spin = status.querySelector(".spin");
        if (spin) spin.hidden = !spinning;
      }
      function showMeta(state) {
        const parts = [];
        if (turn.runId) parts.push('<a href="/ui/runs/' + esc(turn.runId) + '">run ' + esc(turn.runId.slice(0, 8)) + "</a>");
        if (turn.tokensIn || turn.tokensOut) parts.push(turn.tokensIn + " in / " + turn.tokensOut + " out tokens");
        if (state) parts.push(esc(state.replace("_", " ")));
        meta.innerHTML = parts.join(" · ");
      }
      function addTool(step) {
        const d = step.data || {};
        tools.hidden = false;
        const li = document.createElement("li");
        li.innerHTML = "<code>" + esc(d.tool) + '</code><span class="args-inline">(' + esc(inlineArgs(d.arguments)) + ")</span>" + (d.is_error ? ' <span class="badge st-failed">error</span>' : "") +
          (d.effect === "write" ? ' <span class="badge eff-write">write</span>' : "") +
          "<details><summary>arguments and result</summary><pre class=\"json\">" + esc(pretty(d.arguments)) +
          "</pre><pre class=\"json\">" + esc(pretty(d.result)) + "</pre></details>";
        toolList.appendChild(li);
        const n = toolList.children.length;
        bot.querySelector(".tools-count").textContent = n + (n === 1 ? " tool called" : " tools called");
      }
      function addApproval(a) {
        const card = document.createElement("div");
        card.className = "approval-card";
        card.dataset.id = a.id;
        const mine = a.requested_by && a.requested_by === me;
        let buttons;
        if (a.status !== "pending") {
          buttons = '<span class="badge st-' + esc(a.status) + '">' + esc(a.status) + "</span>";
        } else if (canApprove && !mine) {
          buttons = '<button class="btn btn-approve" data-act="approve">Approve</button>' +
            '<input name="reason" placeholder="Reason to reject (required)" maxlength="2000" aria-label="reason">' +
            '<button class="btn btn-reject" data-act="reject">Reject</button>';
        } else {
          buttons = '<span class="muted"><span class="spin" aria-hidden="true"></span> Waiting for ' +
            (mine ? "another approver (you asked for it: four eyes)" : "an approver") +
            '.</span> <a href="/ui/queue#a-' + esc(a.id) + '">Open in the queue</a>';
        }
        card.innerHTML = '<div class="head"><span class="badge risk-' + esc(a.risk) + '">' + esc(a.risk) + ' risk</span>' +
          "<b>Proposed write</b> <code>" + esc(a.tool) + "</code></div>" +
          (a.reasons && a.reasons.length ? '<ul class="reasons">' + a.reasons.map(function (r) { return "<li>" + esc(r) + "</li>"; }).join("") + "</ul>" : "") +
          '<pre class="json">' + esc(pretty(a.arguments)) + "</pre>" +
          '<div class="buttons">' + buttons + '</div><div class="card-error err small"></div>';
        approvals.appendChild(card);
        turn.cards[a.id] = a.status;
        if (a.status === "pending") watch();
        card.addEventListener("click", function (e) {
          const b = e.target.closest("[data-act]");
          if (b) decide(card, a, b.dataset.act);
        });
        scroll();
      }
      async function decide(card, a, act) {
        // An approval is of the arguments this card shows (their version): never of a later edit.
        const id = a.id;
        const error = card.querySelector(".card-error");
        const reason = card.querySelector("input[name=reason]");
        error.textContent = "";
        if (act === "reject" && !reason.value.trim()) { error.textContent = "Say why: the model reads the reason."; reason.focus(); return; }
        card.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        const res = await fetch("/api/v1/approvals/" + encodeURIComponent(id) + "/" + act, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(act === "reject" ? { reason: reason.value.trim() } : a.version ? { version: a.version } : {}),
        });
        const body = await res.json().catch(function () { return {}; });
        if (!res.ok) {
          error.textContent = body.error || "HTTP " + res.status;
          card.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
          return;
        }
        decided(card, body);
      }
      function pendingIds() {
        return Object.keys(turn.cards).filter(function (k) { return turn.cards[k] === "pending"; });
      }
      function decided(card, action) {
        // A decision, made here or by someone else in the queue: show it; go on once none is pending.
        if (turn.cards[action.id] !== "pending") return;
        turn.cards[action.id] = action.status;
        const who = action.decided_by === me ? "you" : action.decided_by;
        const verb = action.status === "rejected" ? "rejected" : action.status === "expired" ? "expired" : "approved";
        card.querySelector(".buttons").innerHTML = '<span class="badge st-' + esc(action.status) + '">' + esc(action.status) +
          "</span> " + verb + (who && verb !== "expired" ? " by " + esc(who) : "") +
          (action.reason ? ' <span class="reason">“' + esc(action.reason) + "”</span>" : "");
        if (!pendingIds().length) resume();
      }
      let watching = null;
      function watch() {
        // Others decide in the queue: poll the pending proposals of this turn every 3 s.
        if (watching) return;
        watching = setInterval(async function () {
          const ids = pendingIds();
          if (!ids.length) { clearInterval(watching); watching = null; return; }
          for (const id of ids) {
            const res = await fetch("/api/v1/approvals/" + encodeURIComponent(id), { credentials: "same-origin" }).catch(function () { return null; });
            if (!res || !res.ok) continue;
            const action = await res.json();
            if (action.status !== "pending") decided(approvals.querySelector('[data-id="' + id + '"]'), action);
          }
        }, 3000);
      }
      async function resume() {
        setStatus("Continuing…", true);
        try {
          const res = await fetch("/api/v1/runs/" + encodeURIComponent(turn.runId) + "/events?after=" + turn.lastSeq, { credentials: "same-origin" });
          if (!res.ok) { fail("could not follow the run (HTTP " + res.status + ")"); return; }
          await readEvents(res, handle);
        } catch (err) { fail(String(err)); }
      }
      function fail(message) {
        setStatus("", false);
        status.classList.add("done");
        const p = document.createElement("div");
        p.className = "chat-error";
        p.textContent = message;
        bot.appendChild(p);
        scroll();
      }
      function handle(event, data) {
        if (event === "conversation") {
          turn.runId = data.run_id;
          remember(data.conversation_id);
          showMeta();
        } else if (event === "step") {
          turn.lastSeq = Math.max(turn.lastSeq, data.seq || 0);
          if (data.kind === "model_call") {
            turn.streaming = false; // the next model call's text starts afresh
            turn.tokensIn += data.input_tokens || 0;
            turn.tokensOut += data.output_tokens || 0;
            setStatus("Thinking…", true);
          } else if (data.kind === "tool_call") {
            addTool(data);
            setStatus("Used " + ((data.data || {}).tool || "a tool") + "…", true);
          }
        } else if (event === "approval") {
          addApproval(data);
        } else if (event === "delta") {
          // Answer text as the model writes it; the `message` that follows replaces it with the whole text.
          // Kept raw and shown marked, whole each time: a character may arrive split across deltas.
          if (!turn.streaming) { turn.raw = ""; turn.streaming = true; setStatus("Writing…", true); }
          turn.raw += data.text || "";
          answer.textContent = visible(turn.raw);
          scroll();
        } else if (event === "message") {
          turn.streaming = false;
          answer.textContent = visible(data.text || "");
          scroll();
        } else if (event === "done") {
          if (data.status === "waiting_approval") {
            setStatus("Waiting for a decision on the proposed write.", false);
          } else if (data.status === "needs_attention") {
            setStatus("An approved write failed; an approver retries or dismisses it in the queue.", false);
          } else {
            status.classList.add("done");
            if (!answer.textContent && data.result && data.result.answer) answer.textContent = visible(data.result.answer);
          }
          showMeta(data.status === "succeeded" ? "" : data.status);
          scroll();
        } else if (event === "error") {
          fail(data.error || "the turn failed");
        }
      }
      turn.handle = handle;
      turn.fail = fail;
      turn.setAnswer = function (text, state) {
        answer.textContent = visible(text || "");
        status.classList.add("done");
        showMeta(state === "succeeded" ? "" : state);
      };
      return turn;
    }

    async function ask(message) {
      if (!message || busy) return;
      busy = true;
      send.disabled = true;
      input.value = "";
      const turn = Turn(message);
      try {
        const res = await fetch("/api/v1/chat", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
          body: JSON.stringify(conversationId ? { message: message, conversation_id: conversationId } : { message: message }),
        });
        if (!res.ok) {
          const body = await res.json().catch(function () { return {}; });
          turn.fail(body.error || "HTTP " + res.status);
          return;
        }
        await readEvents(res, turn.handle);
      } catch (err) {
        turn.fail(String(err));
      } finally {
        busy = false;
        send.disabled = false;
        input.focus();
      }
    }

    async function loadHistory() {
      const res = await fetch("/api/v1/conversations/" + encodeURIComponent(conversationId), { credentials: "same-origin" });
      if (!res.ok) { conversationId = null; window.history.replaceState(null, "", "/ui/chat"); return; }
      const conv = await res.json();
      (conv.turns || []).forEach(function (t) {
        const turn = Turn(t.message || "");
        turn.runId = t.run_id;
        turn.setAnswer(t.answer || (t.status === "waiting_approval" ? "" : "(no answer)"), t.status);
      });
      scroll();
    }

    form.addEventListener("submit", function (e) { e.preventDefault(); ask(input.value.trim()); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); ask(input.value.trim()); }
    });
    root.addEventListener("click", function (e) {
      const s = e.target.closest("[data-suggest]");
      if (s) ask(s.textContent.trim());
    });
    document.getElementById("chat-new").addEventListener("click", function () {
      conversationId = null;
      window.history.replaceState(null, "", "/ui/chat");
      log.querySelectorAll(".turn").forEach(function (t) { t.remove(); });
      const e = document.getElementById("chat-empty");
      if (e) e.hidden = false;
      input.focus();
    });
    if (conversationId) loadHistory();
    input.focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initChat);
  else initChat();
})();

// Workflows: an example sentence fills the describe box.
document.addEventListener("click", function (e) {
  const b = e.target.closest("[data-fill]");
  if (!b) return;
  const target = document.querySelector(b.getAttribute("data-fill"));
  if (target) { target.value = b.getAttribute("data-text") || b.textContent.trim(); target.focus(); }
});
