/* Playing in the browser: /play (start or join a game) and /play/GAME/SESSION (your seat).
 *
 * A browser plays like any game client. It joins (POST /api/play/join: an
 * event stream that ends with the seat's player id and key), then keeps one
 * standing state request open (POST /api/play/state: an event stream of its
 * own view, with the legal moves) and sends moves (POST /api/play/move).
 * The seat's key is kept in localStorage: in this browser only, never in an
 * address. An invite link carries its secret after "#", which browsers never
 * send to a server (so no log or proxy sees it); the page posts it once.
 *
 * The board is drawn by the same renderers as for spectators; here their ctx
 * can also move: ctx.clickable(element, move) and ctx.move(move) (see
 * docs/first-game.md, "Click to move"). Every game can also be played through
 * buttons made from its legal moves, or a small form (key = value, JSON values).
 * Everything from the server is inserted as text (GD.h / textContent).
 */
"use strict";

(function () {
  const GD = window.GameDashboard;
  const h = GD.h;
  const main = document.getElementById("main");
  const SEATS = "gameserver.seats"; // localStorage: {"GAME/SESSION": seat}
  const NAME = "gameserver.name"; // localStorage: the name last used
  const PENDING = "gameserver.pending."; // sessionStorage + GAME/SESSION: a join to make
  const SEATS_KEPT = 50;
  const MOVE_BUTTONS_MAX = 120;
  const PLAYER_COLORS = 8;
  // A seat that got one of these will never work again: forget it.
  const GONE = /invalid key|no such game session|overwritten|timed out|left before the game started|no such game/;
  const enc = encodeURIComponent;

  // ------------------------------------------------------------ storage

  function load(storage, key, fallback) {
    try { return JSON.parse(storage.getItem(key)) ?? fallback; } catch (err) { return fallback; }
  }
  const seats = () => load(localStorage, SEATS, {});
  const seatOf = (game, session) => seats()[`${game}/${session}`] || null;

  function saveSeat(seat) {
    const all = seats();
    all[`${seat.game}/${seat.session}`] = { ...seat, saved: Date.now() };
    const kept = Object.entries(all).sort((a, b) => b[1].saved - a[1].saved).slice(0, SEATS_KEPT);
    localStorage.setItem(SEATS, JSON.stringify(Object.fromEntries(kept)));
  }

  function forgetSeat(game, session) {
    const all = seats();
    delete all[`${game}/${session}`];
    localStorage.setItem(SEATS, JSON.stringify(all));
  }

  // ------------------------------------------------------------ requests

  const HEADERS = { "Content-Type": "application/json", "X-Gameserver-Play": "1" };

  async function failure(response) {
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    const error = new Error((data && data.error) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    return error;
  }

  async function post(path, body) {
    const response = await fetch(path, { method: "POST", headers: HEADERS, body: JSON.stringify(body), cache: "no-store" });
    if (!response.ok) throw await failure(response);
    return response.json();
  }

  /** POST, then hand each server-sent event of the reply to onEvent(name, data) until it ends. */
  async function stream(path, body, onEvent, signal) {
    const response = await fetch(path, { method: "POST", headers: HEADERS, body: JSON.stringify(body), cache: "no-store", signal });
    if (!response.ok) throw await failure(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        let data = null;
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data = line.slice(6);
        }
        if (data !== null && onEvent(name, JSON.parse(data)) === false) {
          reader.cancel();
          return;
        }
      }
    }
  }

  // ------------------------------------------------------------ small helpers

  function notice(kind, ...content) {
    return h("div", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, ...content);
  }

  const messageText = (m) => (typeof m === "string" ? m.replace(/^(game|framework|server): /, "") : JSON.stringify(m));

  function describeMove(move) {
    return Object.entries(move).map(([k, v]) => `${k} ${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ") || "(empty move)";
  }

  /** "key = value" lines as a move; values are JSON, or text when they are not. */
  function parseMove(text) {
    const move = {};
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const at = line.indexOf("=");
      if (at < 1) throw new Error(`"${line.trim()}" is not key = value`);
      const key = line.slice(0, at).trim();
      const raw = line.slice(at + 1).trim();
      try { move[key] = JSON.parse(raw); } catch (err) { move[key] = raw; }
    }
    if (!Object.keys(move).length) throw new Error("type at least one key = value");
    return move;
  }

  const colorClass = (id) => "p" + (((Number(id) % PLAYER_COLORS) + PLAYER_COLORS) % PLAYER_COLORS);

  function randomName() {
    const bytes = new Uint8Array(4);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Replace el's children; null, undefined and false are left out (not shown as text). */
  function fill(el, ...children) {
    el.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
  }

  function field(label, input) {
    return h("label", { class: "field" }, h("span", { text: label }), input);
  }

  /** Where the focus is inside `root`, as child positions, to find it again after a redraw. */
  function focusPath(root) {
    const path = [];
    let el = document.activeElement;
    if (!el || !root.contains(el) || el === root) return null;
    while (el && el !== root) { path.unshift(Array.prototype.indexOf.call(el.parentNode.children, el)); el = el.parentNode; }
    return path;
  }

  function restoreFocus(root, path) {
    if (!path) return;
    let el = root;
    for (const i of path) { el = el && el.children[i]; }
    if (el && el.tabIndex >= 0) el.focus();
    else if (!root.contains(document.activeElement)) root.focus({ preventScroll: true });
  }

  // ------------------------------------------------------------ /play

  async function homePage(games, config) {
    const create = config.play.create;
    const mine = Object.values(seats()).sort((a, b) => b.saved - a.saved);
    const name = h("input", { id: "play-name", name: "name", autocomplete: "nickname", maxlength: 100, value: localStorage.getItem(NAME) || "" });
    const playable = games.filter((g) => !g.error);
    const sections = [h("h1", { text: "Play" })];
    if (config.play.mode === "off") {
      main.replaceChildren(...sections, notice("info", "Playing in the browser is switched off on this server."));
      return;
    }
    sections.push(h("section", { "aria-labelledby": "mine-title" }, h("h2", { id: "mine-title", text: "Your games in this browser" }),
      mine.length ? h("ul", { class: "my-seats", id: "my-seats" }, ...mine.map((s) => h("li", {},
        h("a", { href: `/play/${enc(s.game)}/${enc(s.session)}`, text: `${s.game} ${s.session}` }),
        ` as ${s.name || "player " + s.player_id}`)))
        : h("p", { class: "empty", text: "None yet. Your seats are kept in this browser only." })));
    if (!create) {
      sections.push(notice("info", "To play here, ask the player who started a session for an invite link."));
      main.replaceChildren(...sections);
      return;
    }
    const pick = new URLSearchParams(location.search).get("game");
    const gameSelect = h("select", { id: "play-game", name: "game" }, ...playable.map((g) => h("option", { value: g.name, selected: g.name === pick, text: g.name })));
    const players = h("input", { id: "play-players", type: "number", name: "players", min: 1, max: 100, required: true });
    const bots = h("input", { id: "play-bots", type: "number", name: "bots", min: 0, value: 0 });
    const session = h("input", { id: "play-session", name: "session", placeholder: "made up for you", maxlength: 100, autocomplete: "off" });
    const botsField = field("Bots", bots);
    function gameChanged() {
      const g = playable.find((x) => x.name === gameSelect.value);
      if (!g) return;
      players.min = g.min_players; players.max = g.max_players;
      players.value = String(Math.min(Math.max(Number(players.value) || 2, g.min_players), g.max_players));
      bots.max = String(Math.max(0, Number(players.value) - 1));
      if (Number(bots.value) > Number(bots.max)) bots.value = bots.max;
      botsField.hidden = !(config.play.bots && g.legal_moves);
      if (botsField.hidden) bots.value = "0";
    }
    gameSelect.addEventListener("change", gameChanged);
    players.addEventListener("input", gameChanged);
    gameChanged();
    const form = h("form", { class: "play-form", id: "new-game" },
      field("Game", gameSelect), field("Players", players), botsField, field("Session name", session), field("Your name", name),
      h("button", { type: "submit", class: "primary", text: "Start" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      start({ game: gameSelect.value, session: session.value.trim() || randomName(), players: Number(players.value), bots: Number(bots.value) || 0, name: name.value.trim() });
    });
    const quick = playable.filter((g) => g.legal_moves && g.max_players >= 2 && config.play.bots);
    sections.push(h("section", { "aria-labelledby": "new-title" }, h("h2", { id: "new-title", text: "Start a game" }), form,
      quick.length ? h("div", { class: "quick" }, h("h3", { text: "Play against the bot" }),
        h("div", { class: "quick-buttons" }, ...quick.map((g) => {
          const b = h("button", { type: "button", "data-bot-game": g.name, text: g.name });
          b.addEventListener("click", () => {
            const n = Math.max(2, g.min_players);
            start({ game: g.name, session: randomName(), players: n, bots: n - 1, name: name.value.trim() });
          });
          return b;
        }))) : null));
    const waitingList = h("div", { id: "waiting-sessions" });
    const refresh = h("button", { type: "button", text: "Refresh" });
    async function loadWaiting() {
      let data;
      try { data = await post("/api/play/open", {}); } catch (err) { waitingList.replaceChildren(notice("error", err.message)); return; }
      const shown = data.sessions.filter((s) => playable.some((g) => g.name === s.game));
      fill(waitingList, shown.length ? h("ul", { class: "waiting-list" }, ...shown.map((s) => {
        const b = h("button", { type: "button", text: "Join", "aria-label": `join ${s.game} ${s.session}` });
        b.addEventListener("click", () => start({ game: s.game, session: s.session, players: null, name: name.value.trim() }));
        return h("li", {}, b, ` ${s.game} `, h("span", { class: "token", text: s.session }),
          ` (${s.joined} of ${s.players}${s.names.length ? ": " + s.names.join(", ") : ""})`);
      })) : h("p", { class: "empty", text: "No session is waiting for players." }),
      data.more ? h("p", { class: "hint", text: "and more: ask the player who started yours for its name" }) : null);
    }
    refresh.addEventListener("click", loadWaiting);
    sections.push(h("section", { "aria-labelledby": "waiting-title" },
      h("div", { class: "section-head" }, h("h2", { id: "waiting-title", text: "Sessions waiting for players" }), refresh), waitingList));
    main.replaceChildren(...sections);
    await loadWaiting();
  }

  /** Go to the seat page, which makes the join (so the page can wait and show who comes). */
  function start(join) {
    localStorage.setItem(NAME, join.name || "");
    sessionStorage.setItem(PENDING + `${join.game}/${join.session}`, JSON.stringify(join));
    location.assign(`/play/${enc(join.game)}/${enc(join.session)}`);
  }

  // ------------------------------------------------------------ /play/GAME/SESSION

  function seatPage(game, token, games, config) {
    const info = games.find((g) => g.name === game) || null;
    const badge = h("span", { class: "live", role: "status", text: "connecting…" });
    const you = h("p", { class: "you", id: "you" });
    const pre = h("div", { class: "play-pre", id: "play-pre" }); // joining: forms, who has come
    const status = h("p", { class: "status play-status", id: "play-status", "aria-live": "polite" });
    const message = h("p", { class: "play-message", id: "play-message", role: "alert" });
    const board = h("div", { class: "board play-board", id: "board", tabindex: "-1" });
    const controls = h("div", { class: "play-controls", id: "play-controls" });
    const side = h("div", { class: "play-side" });
    const spectate = config.access !== "player" ? h("a", { href: `/session/${enc(game)}/${enc(token)}`, text: "Watch as a spectator" }) : null;
    document.title = `${game} ${token} · play`;
    main.replaceChildren(
      h("p", { class: "crumbs" }, h("a", { href: "/play", text: "← Play" }), spectate ? " · " : null, spectate),
      h("div", { class: "section-head" }, h("h1", {}, h("span", { class: "game-name", text: game }), " ", h("span", { class: "token", id: "session-name", text: token })), badge),
      you, pre, status, message, board, controls, side);
    status.hidden = board.hidden = true; // until seated
    GD.arrowKeys(board);
    const setBadge = (state, text) => { badge.dataset.state = state; badge.textContent = text; };
    const say = (text, kind) => { message.textContent = text || ""; message.dataset.kind = kind || ""; };

    const pendingKey = PENDING + `${game}/${token}`;
    const pending = load(sessionStorage, pendingKey, null);
    const invite = new URLSearchParams(location.hash.slice(1)).get("invite");
    const seat = seatOf(game, token);
    if (seat) {
      if (invite) say("You already have a seat in this session, so this invite link was not used: send it to the friend it is meant for.", "info");
      sessionStorage.removeItem(pendingKey);
      playSeat(seat);
    } else if (pending) {
      join(pending);
    } else if (invite) {
      joinForm("Take your seat", { invite });
    } else if (config.play.create && config.play.mode !== "off") {
      joinForm("Join this session", { game, session: token, players: null });
    } else {
      setBadge("ended", "no seat");
      pre.replaceChildren(notice("info", "You have no seat in this session. To play, ask the player who started it for an invite link."));
    }

    function joinForm(label, body) {
      setBadge("ended", "not seated");
      const name = h("input", { id: "join-name", autocomplete: "nickname", maxlength: 100, value: localStorage.getItem(NAME) || "" });
      const form = h("form", { class: "play-form", id: "join-form" }, field("Your name", name), h("button", { type: "submit", class: "primary", text: label }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        localStorage.setItem(NAME, name.value.trim());
        join({ ...body, name: name.value.trim() });
      });
      pre.replaceChildren(form);
    }

    async function join(body) {
      sessionStorage.removeItem(pendingKey); // one try: a reload while waiting asks again
      if (!body.invite) sessionStorage.setItem(pendingKey, JSON.stringify(body));
      setBadge("waiting", "joining…");
      const waiting = h("div", { class: "waiting", id: "waiting" });
      const invites = h("div", { class: "invites", id: "invites" });
      pre.replaceChildren(waiting);
      side.replaceChildren(invites);
      let joined = null;
      let size = info ? "?" : "?";
      try {
        await stream("/api/play/join", body, (name, data) => {
          if (name === "waiting") {
            if (data.size) size = data.size;
            if (data.invites) showInvites(invites, data.invites, data.bots || 0);
            const names = (data.names || []).map((n, i) => n || `player ${i}`);
            waiting.replaceChildren(notice("waiting", `Waiting for players: ${data.joined ?? "?"} of ${size} have joined`, names.length ? ` (${names.join(", ")}).` : "."));
            setBadge("waiting", "waiting");
          } else if (name === "seated") {
            joined = { game, session: data.session, player_id: data.player_id, key: data.key, name: body.name || "" };
          } else if (name === "refused") {
            say(messageText(data.message), "bad");
          }
        });
      } catch (err) {
        say(err.message, "bad");
      }
      sessionStorage.removeItem(pendingKey);
      if (!joined) {
        setBadge("ended", "not seated");
        if (!message.textContent) say("The connection was lost while waiting for players.", "bad");
        pre.replaceChildren(h("p", {}, h("a", { href: "/play", text: "Back to Play" })));
        return;
      }
      saveSeat(joined);
      if (location.hash) history.replaceState(null, "", location.pathname + location.search);
      if (joined.session !== token) {
        history.replaceState(null, "", `/play/${enc(game)}/${enc(joined.session)}`);
        document.getElementById("session-name").textContent = joined.session;
      }
      side.replaceChildren();
      playSeat(joined);
    }

    function showInvites(box, links, bots) {
      const items = links.map((path, i) => {
        const url = location.origin + path;
        const input = h("input", { readonly: true, value: url, "aria-label": `invite link ${i + 1}`, class: "invite-link" });
        const copy = h("button", { type: "button", text: "Copy" });
        copy.addEventListener("click", async () => {
          input.select();
          try { await navigator.clipboard.writeText(url); copy.textContent = "Copied"; } catch (err) { document.execCommand("copy"); copy.textContent = "Copied"; }
        });
        return h("li", {}, input, copy);
      });
      fill(box, h("h2", { text: "Invite" }),
        links.length ? h("p", { class: "hint", text: "Send each friend one link: it gives one seat, once. It works for this session only, until the game starts." }) : null,
        links.length ? h("ol", { class: "invite-list" }, ...items) : null,
        bots ? h("p", { class: "hint", text: `${bots} bot${bots === 1 ? "" : "s"} joining.` }) : null);
    }

    function playSeat(current) {
      const ids = { game: current.game, session: current.session, player_id: current.player_id, key: current.key };
      const me = current.player_id;
      let players = [];
      let state = null;
      let busy = false;
      let controller = null;
      let stopped = false;
      let tooLarge = false; // the last state was too large to be sent
      let delay = 1000;
      const memory = {};
      pre.replaceChildren();
      status.hidden = board.hidden = false;
      you.replaceChildren("You are ", h("span", { class: "player-tag " + colorClass(me), text: current.name || `player ${me}` }), ` (player ${me}).`);

      function nameOf(id) {
        const p = players.find((x) => x.id === id);
        return (p && p.name) || `player ${id}`;
      }

      async function open() {
        if (stopped) return;
        controller = new AbortController();
        setBadge("waiting", "connecting…");
        let end = null; // why the stream ended: "replaced", "gone" or null (reconnect)
        try {
          await stream("/api/play/state", ids, (name, data) => {
            setBadge("live", "live");
            delay = 1000;
            if (name === "session") { players = data.players; if (state) show(state); }
            else if (name === "state") { if (tooLarge) say(""); tooLarge = false; show(data.data); }
            else if (name === "too_large") { // the state would not fit in one event
              state = null;
              tooLarge = true;
              board.replaceChildren();
              controls.replaceChildren();
              status.textContent = "";
              say(`What you see of this game is ${GD.bytesText(data.bytes)}, more than the browser page is sent at once (${GD.bytesText(data.max)}), so it cannot be shown here. Play this game with a program (game_server_api.py) instead.`, "bad");
            }
            else if (name === "replaced") { end = "replaced"; return false; }
            else if (name === "refused") {
              if (GONE.test(String(data.message))) { end = "gone"; say(`This seat is gone: ${messageText(data.message)}`, "bad"); }
              else say(messageText(data.message), "bad");
            }
            return true;
          }, controller.signal);
        } catch (err) {
          if (err.name === "AbortError") return;
          if (err.status === 400) end = "gone";
        }
        if (end === "gone") {
          stopped = true;
          forgetSeat(current.game, current.session);
          setBadge("ended", "ended");
          controls.replaceChildren(h("p", {}, h("a", { href: "/play", text: "Start or join another game" })));
          return;
        }
        if (end === "replaced") {
          setBadge("paused", "elsewhere");
          const here = h("button", { type: "button", text: "Play here" });
          here.addEventListener("click", () => { say(""); open(); });
          say("This seat is now open in another tab or window.", "info");
          controls.replaceChildren(here);
          return;
        }
        setBadge("lost", "reconnecting…");
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      }

      async function send(path, body) {
        if (busy) return;
        busy = true;
        board.classList.add("busy");
        say("");
        try {
          const reply = await post(path, { ...ids, ...body });
          if (reply.status === "illegalmove") say(`Not allowed: ${messageText(reply.message)}`, "bad");
          else if (reply.status === "error") say(messageText(reply.message), "bad");
        } catch (err) {
          say(`Not sent: ${err.message}`, "bad");
        } finally {
          busy = false;
          board.classList.remove("busy");
        }
      }
      const move = (m) => send("/api/play/move", { move: m });

      function context(view) {
        const legal = Array.isArray(view.legal_moves) ? view.legal_moves : null;
        const myTurn = !view.gameover && Array.isArray(view.current) && view.current.includes(me);
        return GD.seatContext({ game, player: me, players, name: nameOf, h, jsonTree: GD.jsonTree, colorClass },
          legal, myTurn, memory, move);
      }

      function statusLine(view) {
        if (view.gameover) {
          let text = "Game over";
          if (view.ranking && typeof view.ranking === "object") {
            const top = Object.entries(view.ranking)[0];
            if (top) text += `: ${top[0]} wins with ${top[1]}`;
          } else if (Number.isInteger(view.winner)) {
            text += view.winner === me ? ": you win!" : `: ${nameOf(view.winner)} wins`;
          } else if ("winner" in view) text += ": a draw";
          return text;
        }
        const now = Array.isArray(view.current) ? view.current : [];
        if (now.includes(me)) return now.length > 1 ? "Your turn (together with others)" : "Your turn";
        if (!now.length) return "Nobody may move right now";
        return "Waiting for " + now.map(nameOf).join(", ");
      }

      function show(view) {
        state = view;
        const { legal_moves: legal, ...shown } = view;
        const ctx = context(view);
        status.textContent = statusLine(view);
        status.dataset.turn = ctx.myTurn ? "mine" : view.gameover ? "over" : "other";
        document.title = `${ctx.myTurn ? "● Your turn · " : ""}${game} ${current.session} · play`;
        const focused = focusPath(board);
        GD.draw(board, game, shown, ctx);
        board.dataset.version = String((Number(board.dataset.version) || 0) + 1);
        restoreFocus(board, focused);
        const parts = [];
        if (view.gameover) {
          const again = h("button", { type: "button", class: "primary", id: "restart", text: "Play again (restart)" });
          again.addEventListener("click", () => send("/api/play/restart", {}));
          parts.push(again);
        }
        const clickable = board.querySelector("[data-move]") !== null;
        if (Array.isArray(legal) && legal.length && ctx.myTurn) {
          const buttons = legal.slice(0, MOVE_BUTTONS_MAX).map((m) => {
            const b = h("button", { type: "button", class: "legal-move", text: describeMove(m) });
            b.addEventListener("click", () => move(m));
            return b;
          });
          parts.push(h("details", { class: "legal-moves", id: "legal-moves", open: !clickable && legal.length <= MOVE_BUTTONS_MAX },
            h("summary", { text: `Your legal moves (${legal.length})` }), h("div", { class: "move-buttons" }, ...buttons),
            legal.length > MOVE_BUTTONS_MAX ? h("p", { class: "hint", text: `and ${legal.length - MOVE_BUTTONS_MAX} more: type them below` }) : null));
        }
        if (!view.gameover) parts.push(moveForm(!Array.isArray(legal) && !clickable));
        controls.replaceChildren(...parts);
      }

      function moveForm(open) {
        const previous = document.getElementById("move-text");
        const text = h("textarea", { id: "move-text", rows: 2, spellcheck: "false", placeholder: "position = 4", "aria-describedby": "move-help" });
        if (previous) text.value = previous.value;
        const form = h("form", { class: "move-form" }, text,
          h("p", { class: "hint", id: "move-help", text: "One key = value per line; values are JSON (4, \"text\", [1, 2], true) or plain text." }),
          h("button", { type: "submit", text: "Send move" }));
        form.addEventListener("submit", (e) => {
          e.preventDefault();
          try { move(parseMove(text.value)); } catch (err) { say(err.message, "bad"); }
        });
        const wasOpen = document.getElementById("move-form-box");
        return h("details", { class: "move-form-box", id: "move-form-box", open: wasOpen ? wasOpen.open : open }, h("summary", { text: "Type a move" }), form);
      }

      open();
    }
  }

  // ------------------------------------------------------------ start

  async function page(path, games) {
    let config;
    try {
      config = await (await fetch("/api/config", { cache: "no-store" })).json();
    } catch (err) {
      config = { access: "player", play: { mode: "invite", create: false, bots: false } };
    }
    if (config.access === "player") {
      for (const link of document.querySelectorAll(".top nav a:not([data-nav=play])")) link.hidden = true;
    }
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === "play") link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    const m = path.match(/^\/play\/([^/]+)\/([^/]+)$/);
    if (m) seatPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]), games, config);
    else {
      document.title = "Play · gameserver";
      await homePage(games, config);
    }
  }

  window.GamePlay = { page };
})();
