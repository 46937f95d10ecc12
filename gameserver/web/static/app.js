/* The dashboard's pages: lobby, spectator view, history and replay.
 *
 * One HTML shell (index.html) serves every page; this file looks at the
 * address and draws the page. Live pages listen to server-sent events, so a
 * board changes as soon as a move is made. Everything from the server is
 * inserted as text (GameDashboard.h / textContent), never as HTML.
 */
"use strict";

(function () {
  const GD = window.GameDashboard;
  const h = GD.h;
  const main = document.getElementById("main");
  const PLAYER_COLORS = 8;
  let serverOffset = 0; // server clock minus ours, in seconds
  let replayKeys = null; // the replay's key handler, replaced when the page is redrawn

  // ------------------------------------------------------------ small helpers

  async function api(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
    return data;
  }

  const enc = encodeURIComponent;
  const nowServer = () => Date.now() / 1000 + serverOffset;
  const syncClock = (now) => { if (typeof now === "number") serverOffset = now - Date.now() / 1000; };

  function duration(seconds) {
    if (!Number.isFinite(seconds)) return "–";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return `${seconds} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ${minutes % 60} min`;
    return `${Math.floor(hours / 24)} days`;
  }

  const ago = (t) => (Number.isFinite(t) ? duration(nowServer() - t) + " ago" : "–");
  const clock = (t) => (Number.isFinite(t) ? new Date(t * 1000).toLocaleTimeString() : "–");
  const dateTime = (t) => (Number.isFinite(t) ? new Date(t * 1000).toLocaleString() : "–");

  function setPage(title, nav) {
    document.title = `${title} · gameserver`;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  function query(name) {
    return new URLSearchParams(location.search).get(name);
  }

  function setQuery(values) {
    const params = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(values)) {
      if (v === null || v === undefined || v === "") params.delete(k); else params.set(k, String(v));
    }
    const text = params.toString();
    history.replaceState(null, "", location.pathname + (text ? "?" + text : ""));
  }

  function context(game, players, player) {
    const list = players || [];
    const name = (id) => {
      const p = list.find((x) => x.id === id);
      return (p && p.name) || `player ${id}`;
    };
    return {
      game, player, players: list, name, h, jsonTree: GD.jsonTree,
      colorClass: (id) => "p" + (((Number(id) % PLAYER_COLORS) + PLAYER_COLORS) % PLAYER_COLORS),
    };
  }

  function tag(ctx, id, extra) {
    return h("span", { class: "player-tag " + ctx.colorClass(id) }, ctx.name(id), extra || null);
  }

  /** "Turn: ann" / "Game over: bob wins" for one view of a game. */
  function statusLine(state, ctx) {
    if (!state || typeof state !== "object") return h("p", { class: "status", text: "No view yet." });
    if (typeof state.error === "string") return h("p", { class: "status error", text: "The game failed (see below)." });
    if (state.gameover) {
      let result = "";
      if (state.ranking && typeof state.ranking === "object") {
        const top = Object.entries(state.ranking)[0];
        result = top ? `${top[0]} wins with ${top[1]}` : "";
      } else if (Number.isInteger(state.winner)) {
        return h("p", { class: "status over" }, "Game over: ", tag(ctx, state.winner), " wins");
      } else if ("winner" in state) {
        result = "draw";
      }
      return h("p", { class: "status over", text: "Game over" + (result ? ": " + result : "") });
    }
    const current = Array.isArray(state.current) ? state.current : [];
    if (!current.length) return h("p", { class: "status", text: "Nobody may move right now." });
    if (current.length > 1 && current.length === ctx.players.length) {
      return h("p", { class: "status turn", text: "Everyone may move." });
    }
    return h("p", { class: "status turn" }, current.length > 1 ? "Turn (together): " : "Turn: ",
      ...current.flatMap((id, i) => (i ? [", ", tag(ctx, id)] : [tag(ctx, id)])));
  }

  function describeMove(move) {
    if (move === null || move === undefined) return "(hidden: another player's move)";
    if (typeof move !== "object" || Array.isArray(move)) return JSON.stringify(move);
    const parts = Object.entries(move).map(([k, v]) => {
      const text = JSON.stringify(v);
      return `${k} ${text.length > 60 ? text.slice(0, 57) + "…" : text}`;
    });
    return parts.join(", ") || "(empty move)";
  }

  function liveBadge() {
    return h("span", { class: "live", role: "status", "aria-live": "polite", text: "connecting…" });
  }

  function setLive(badge, state, text) {
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function notice(kind, ...content) {
    return h("div", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, ...content);
  }

  function playerPicker(label, players, selected, onPick) {
    const box = h("fieldset", { class: "picker" }, h("legend", { text: label }));
    for (const p of players) {
      const id = `pick-${p.id}`;
      const input = h("input", { type: "radio", name: "view-of", id, value: p.id, checked: p.id === selected });
      input.addEventListener("change", () => onPick(p.id));
      box.append(h("label", { for: id }, input, " ", p.name || `player ${p.id}`));
    }
    return box;
  }

  /**
   * A server-sent event stream that pauses while the tab is hidden.
   *
   * Browsers allow about six HTTP/1.1 connections per server, and every open
   * stream holds one: closing the streams of background tabs keeps a dozen
   * open tabs usable. The page catches up as soon as it is shown again.
   */
  function liveStream(url, badge, onData, onEnd) {
    let source = null;
    let ended = false;
    let retry = null;
    function open() {
      clearTimeout(retry);
      if (source || ended) return;
      source = new EventSource(url());
      source.onopen = () => setLive(badge, "live", "live");
      source.onmessage = (e) => { setLive(badge, "live", "live"); onData(JSON.parse(e.data)); };
      source.onerror = () => {
        setLive(badge, "lost", "reconnecting…");
        // An error status (503: busy or stopping) makes the browser give up; we do not.
        if (source && source.readyState === EventSource.CLOSED) { close(); retry = setTimeout(open, 2000); }
      };
      source.addEventListener("end", () => { ended = true; close(); onEnd(); });
    }
    function close() {
      clearTimeout(retry);
      if (source) source.close();
      source = null;
    }
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") { close(); if (!ended) setLive(badge, "paused", "paused"); } else open();
    });
    open();
    return { reopen: () => { close(); open(); } };
  }

  // ------------------------------------------------------------ custom renderers

  async function loadGames() {
    let games = [];
    try { games = await api("/api/games"); } catch (err) { return []; }
    for (const g of games) if (g.renderer) GD.sandboxed(g.name, g.renderer); // in a frame, never in this page
    return games;
  }

  // ------------------------------------------------------------ lobby

  const SESSION_COLUMNS = ["Game", "Session", "Players", "Turn", "Moves", "Age", "Last activity", "Observers", "Status"];

  /** A table of session summaries whose rows are kept (and updated in place) across updates. */
  function sessionTable(id, caption) {
    const tbody = h("tbody", {});
    const table = h("table", { class: "sessions", id },
      h("caption", { class: "visually-hidden", text: caption }),
      h("thead", {}, h("tr", {}, ...SESSION_COLUMNS.map((t) => h("th", { scope: "col", text: t })))), tbody);
    const rows = new Map();

    function cells(s) {
      const ctx = context(s.game, s.players, 0);
      const href = `/session/${enc(s.game)}/${enc(s.session)}`;
      const names = s.players.map((p) => tag(ctx, p.id));
      let turn = "–";
      if (s.waiting_for_players) turn = "waiting for players";
      else if (s.gameover) turn = "game over";
      else if (s.current.length) turn = s.current.map((id) => ctx.name(id)).join(", ");
      let status = ["playing", "playing"];
      if (s.error) status = ["error", "error: " + s.error];
      else if (s.waiting_for_players) status = ["waiting", `waiting for ${s.size - s.players.length} more`];
      else if (s.stuck) status = ["stuck", "stuck: no activity"];
      else if (s.gameover) status = ["over", "game over"];
      const accepted = Number.isInteger(s.accepted_moves) ? s.accepted_moves : s.moves;
      const rejected = s.moves - accepted;
      return {
        status: status[0],
        values: [
          s.game,
          h("a", { href, class: "session-link" }, s.auto ? `${s.session} (auto)` : s.session),
          h("span", {}, ...names.flatMap((n, i) => (i ? [", ", n] : [n])), ` (${s.players.length}/${s.size})`),
          turn,
          String(accepted) + (rejected > 0 ? ` (+${rejected} rejected)` : "") + (s.games_played > 1 ? ` (game ${s.games_played})` : ""),
          { age: s.started },
          { ago: s.last_activity },
          s.observed.length ? s.observed.map((id) => ctx.name(id)).join(", ") : "–",
          h("span", { class: "badge " + status[0], text: status[1] }),
        ],
      };
    }

    function fill(td, value) {
      if (value && typeof value === "object" && !(value instanceof Node)) {
        td.dataset.time = value.age ?? value.ago;
        td.dataset.kind = "age" in value ? "age" : "ago";
        td.textContent = "age" in value ? duration(nowServer() - value.age) : ago(value.ago);
      } else if (value instanceof Node) {
        td.replaceChildren(value);
      } else if (td.textContent !== value) {
        td.textContent = value;
      }
    }

    function update(sessions) {
      const seen = new Set();
      const order = [];
      for (const s of sessions) {
        const key = `${s.game}/${s.session}`;
        seen.add(key);
        let row = rows.get(key);
        if (!row) {
          row = h("tr", { "data-session": key }, ...SESSION_COLUMNS.map(() => h("td", {})));
          rows.set(key, row);
        }
        const { status, values } = cells(s);
        row.className = "status-" + status;
        values.forEach((v, i) => fill(row.children[i], v));
        order.push(row);
      }
      for (const [key, row] of rows) if (!seen.has(key)) { row.remove(); rows.delete(key); }
      const current = Array.from(tbody.children);
      if (current.length !== order.length || current.some((r, i) => r !== order[i])) {
        const focused = document.activeElement;
        tbody.append(...order);
        if (focused && focused !== document.activeElement && document.contains(focused)) focused.focus();
      }
      table.hidden = sessions.length === 0;
    }

    return { table, update };
  }

  /**
   * The game code: each game file of the games folders, loaded (its games) or not (the
   * log's lines that say why), and each game's errors (exceptions, wrong return values,
   * calls stopped at the time limit). Asked for again as the lobby changes, and every 10 s.
   */
  function gameCodeSection() {
    const errorsLine = h("p", { class: "counts", id: "game-errors" });
    const tbody = h("tbody", {});
    const table = h("table", { class: "game-files", id: "game-files" },
      h("caption", { class: "visually-hidden", text: "Game files" }),
      h("thead", {}, h("tr", {}, ...["File", "Status", "Games, or why none loaded"].map((t) => h("th", { scope: "col", text: t })))), tbody);
    const section = h("section", { "aria-labelledby": "code-title", id: "game-code" },
      h("h2", { id: "code-title", text: "Game code" }), errorsLine, h("div", { class: "table-scroll" }, table));
    const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    let asked = 0;
    let later = null;

    function draw(data) {
      const errors = new Map(data.games.map((g) => [g.name, g.errors]));
      const failing = data.games.filter((g) => g.errors > 0);
      errorsLine.textContent = "Game-code errors (exceptions, wrong return values, time limits): " +
        (failing.length ? failing.map((g) => `${g.name} ${g.errors}`).join(" · ") : "none so far");
      tbody.replaceChildren(...data.files.map((f) => {
        const loaded = f.games.length > 0;
        return h("tr", { class: loaded ? "file-loaded" : "file-failed" },
          h("td", { class: "file", text: f.file }),
          h("td", {}, h("span", { class: "badge " + (loaded ? "loaded" : "failed"), text: loaded ? "loaded" : "not loaded" })),
          h("td", {},
            f.games.length ? h("p", { text: f.games.map((g) => `${g} (${plural(errors.get(g) || 0, "error")})`).join(", ") }) : null,
            ...f.problems.map((text) => h("p", { class: "problem", text }))));
      }));
      table.hidden = data.files.length === 0;
    }

    async function refresh() {
      asked = Date.now();
      try { draw(await api("/api/game-files")); } catch (err) { /* the next refresh tries again */ }
    }

    function soon() { // at most one request every 2 s, however fast the lobby changes
      if (later) return;
      later = setTimeout(() => { later = null; refresh(); }, Math.max(0, asked + 2000 - Date.now()));
    }

    refresh();
    setInterval(refresh, 10000);
    return { section, soon };
  }

  function lobbyPage(games) {
    setPage("Lobby", "lobby");
    const badge = liveBadge();
    const counts = h("p", { class: "counts", id: "counts" });
    const filter = h("input", { type: "search", id: "filter", placeholder: "game, session or player", autocomplete: "off", value: query("q") || "" });
    const empty = h("p", { class: "empty", text: "No sessions right now. Start one, e.g. python3 examples/tictactoe_client.py (twice)." });
    const more = h("p", { class: "hint", id: "more" });
    const live = sessionTable("sessions", "Live sessions");
    const finished = sessionTable("finished", "Finished sessions still open");
    const finishedSummary = h("summary", {});
    const finishedMore = h("p", { class: "hint" });
    const code = gameCodeSection();
    const finishedBox = h("details", { class: "finished", id: "finished-box" }, finishedSummary,
      h("p", { class: "hint", text: "Their game is over; they stay open (for a restart) until nobody has sent a request for the game timeout. Finished games are kept in the history." }),
      h("div", { class: "table-scroll" }, finished.table), finishedMore);

    main.replaceChildren(
      h("section", { "aria-labelledby": "sessions-title" },
        h("div", { class: "section-head" }, h("h1", { id: "sessions-title", text: "Live sessions" }), badge),
        counts,
        h("p", { class: "filter" }, h("label", { for: "filter", text: "Filter " }), filter),
        h("div", { class: "table-scroll" }, live.table), empty, more, finishedBox),
      h("section", { "aria-labelledby": "games-title" },
        h("h2", { id: "games-title", text: "Games" }),
        h("ul", { class: "games" }, ...games.map((g) => h("li", { class: "game-card" },
          h("h3", { text: g.name }),
          g.error ? h("p", { class: "status error game-error", text: `Cannot be played: ${g.error}` })
            : h("p", { class: "players-range", text: g.min_players === g.max_players ? `${g.min_players} player${g.min_players === 1 ? "" : "s"}` : `${g.min_players}–${g.max_players} players` }),
          h("p", { text: g.description || "" }),
          g.documentation ? h("details", {}, h("summary", { text: "How to play" }), h("pre", { class: "doc", text: g.documentation })) : null,
          g.error ? null : h("p", {}, h("a", { href: `/play?game=${enc(g.name)}`, class: "play-link", text: `Play ${g.name} in the browser` })))))),
      code.section);

    const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

    function update(data) {
      syncClock(data.now);
      code.soon();
      live.update(data.sessions);
      finished.update(data.finished);
      const c = data.counts;
      counts.textContent = `${plural(c.live, "live session")} · ${c.waiting_for_players} waiting for players · ${c.stuck} stuck` +
        (c.errors ? ` · ${c.errors} with errors` : "") + ` · ${c.finished} finished (stuck = no request for ${duration(data.stuck_after)})`;
      const filtered = data.q ? ` matching “${data.q}”` : "";
      empty.hidden = data.sessions.length > 0;
      empty.textContent = data.q ? `No live session matches “${data.q}”.`
        : "No sessions right now. Start one, e.g. python3 examples/tictactoe_client.py (twice).";
      more.hidden = data.matched <= data.sessions.length;
      more.textContent = `Showing ${data.sessions.length} of ${data.matched} live sessions${filtered}; use the filter to find others.`;
      finishedBox.hidden = data.finished_matched === 0;
      finishedSummary.textContent = `${plural(data.finished_matched, "finished session")}${filtered} still open`;
      finishedMore.hidden = data.finished_matched <= data.finished.length;
      finishedMore.textContent = `Showing ${data.finished.length} of ${data.finished_matched}.`;
    }

    const url = () => "/api/events" + (filter.value.trim() ? "?q=" + enc(filter.value.trim()) : "");
    const stream = liveStream(url, badge, update, () => {});
    let typing = null;
    filter.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { setQuery({ q: filter.value.trim() }); stream.reopen(); }, 250);
    });
    setInterval(() => {
      for (const td of main.querySelectorAll("td[data-time]")) {
        const t = Number(td.dataset.time);
        td.textContent = td.dataset.kind === "age" ? duration(nowServer() - t) : ago(t);
      }
    }, 1000);
  }

  // ------------------------------------------------------------ spectator

  function spectatorPage(game, token) {
    setPage(`${game} ${token}`, "lobby");
    let player = Number.parseInt(query("player") || "0", 10) || 0;
    let stream = null;
    let lastView = null;
    let lastPlayers = null;
    const badge = liveBadge();
    const pickerSlot = h("div", { class: "picker-slot" });
    const status = h("div", { class: "status-slot", "aria-live": "polite" });
    const board = h("div", { class: "board", id: "board" });
    const meta = h("dl", { class: "meta" });
    const raw = h("div", { class: "raw" });
    const ended = h("div", { class: "ended-slot" });
    const projector = h("button", { type: "button", class: "projector-toggle", "aria-pressed": "false", title: "Projector mode (key P)", text: "Projector mode" });

    function toggleProjector(on) {
      const value = on ?? !document.documentElement.classList.contains("projector");
      document.documentElement.classList.toggle("projector", value);
      projector.setAttribute("aria-pressed", String(value));
    }
    projector.addEventListener("click", () => toggleProjector());
    document.addEventListener("keydown", (e) => {
      if (e.target instanceof HTMLInputElement || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "p" || e.key === "P") toggleProjector();
      if (e.key === "Escape") toggleProjector(false);
    });

    main.replaceChildren(
      h("p", { class: "crumbs" }, h("a", { href: "/", text: "← Lobby" })),
      h("div", { class: "section-head" },
        h("h1", {}, h("span", { class: "game-name", text: game }), " ", h("span", { class: "token", text: token })),
        badge, projector),
      ended, pickerSlot, status, board, meta,
      h("details", { class: "raw-details" }, h("summary", { text: "This view as JSON" }), raw));

    function sessionEnded() {
      setLive(badge, "ended", "ended");
      ended.replaceChildren(notice("info", "This session is not running (any more): it ended, timed out or was replaced. ",
        h("a", { href: "/history", text: "Finished games are in the history." }), " ", h("a", { href: "/", text: "Back to the lobby." })));
    }

    /** A view too large for the live page (``too_large``): where it is, not live. */
    function tooLarge(note) {
      return notice("info", h("strong", { text: "Too large to show live. " }),
        `This view is ${GD.bytesText(note.bytes)}, more than a live page is sent at once (${GD.bytesText(note.max)}), so it is not shown here. `,
        h("a", { href: note.url, text: "Open it as JSON" }), " (as it is now; reload that page to see it again).");
    }

    function show(data) {
      syncClock(data.now);
      const s = data.summary;
      if (!s) { // even the summary was too large: only the note
        board.replaceChildren(tooLarge(data.too_large));
        status.replaceChildren();
        raw.replaceChildren();
        lastView = null;
        return;
      }
      const ctx = context(game, s.players, player);
      const playersText = JSON.stringify(s.players);
      if (playersText !== lastPlayers) {
        lastPlayers = playersText;
        pickerSlot.replaceChildren(s.players.length
          ? playerPicker("Show the game as this player sees it", s.players, player, (id) => {
            player = id; lastView = null; setQuery({ player: id }); stream.reopen();
          })
          : notice("info", "Nobody has joined yet."));
      }
      const view = data.view;
      const viewText = JSON.stringify(view) + String(data.hidden) + JSON.stringify(data.too_large);
      const line = s.waiting_for_players
        ? notice("waiting", `Waiting for players: ${s.players.length} of ${s.size} have joined.`)
        : s.error ? GD.errorBox(s.error) : statusLine(data.hidden || data.too_large ? { current: s.current, gameover: s.gameover } : view, ctx);
      if (line.textContent !== status.textContent || !status.firstChild) status.replaceChildren(line); // announced once
      if (viewText !== lastView) {
        lastView = viewText;
        if (data.hidden) {
          board.replaceChildren(notice("info", h("strong", { text: "Public view. " }),
            `${game} has hidden information: while a game runs, spectators see only who plays, whose turn it is and how many moves were made, never what a player sees. `,
            "The operator (with the dashboard's access token) sees every view; once the game is over, its replay in the history shows it move by move."));
          board.dataset.hidden = "true";
          raw.replaceChildren(GD.jsonTree(s));
        } else if (data.too_large) {
          delete board.dataset.hidden;
          board.replaceChildren(tooLarge(data.too_large));
          raw.replaceChildren(GD.jsonTree(s));
        } else if (view === null) {
          delete board.dataset.hidden;
          board.replaceChildren(notice("info", `Player ${player} has not joined yet.`));
          raw.replaceChildren();
        } else {
          delete board.dataset.hidden;
          GD.draw(board, game, view, ctx);
          raw.replaceChildren(GD.jsonTree(view));
        }
        board.dataset.version = String((Number(board.dataset.version) || 0) + 1);
      }
      const observers = s.observed.length ? s.observed.map((id) => ctx.name(id)).join(", ") : "none";
      const accepted = Number.isInteger(s.accepted_moves) ? s.accepted_moves : s.moves;
      const pairs = [["Moves", String(accepted) + (s.moves > accepted ? ` (+${s.moves - accepted} rejected)` : "")], ["Games played here", String(s.games_played)],
        ["Started", `${clock(s.started)} (${ago(s.started)})`], ["Last activity", ago(s.last_activity)],
        ["Observed players", observers], ["Requests waiting", String(s.waiting)]];
      if (s.stuck) pairs.push(["Stuck", "no request for a while"]);
      if (s.timer) pairs.push(["Time left", window.GameCompetition.countdown(s.timer, data.now, ctx)]); // turn timer
      meta.replaceChildren(...pairs.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
    }

    stream = liveStream(() => `/api/sessions/${enc(game)}/${enc(token)}/events?player=${player}`, badge, show, sessionEnded);
  }

  // ------------------------------------------------------------ history

  async function historyPage(games) {
    setPage("History", "history");
    const game = query("game") || "";
    const select = h("select", { id: "game-filter" }, h("option", { value: "", text: "all games" }),
      ...games.map((g) => h("option", { value: g.name, selected: g.name === game, text: g.name })));
    select.addEventListener("change", () => { setQuery({ game: select.value }); historyPage(games); });
    const listSlot = h("div", {});
    const boardSlot = h("div", {});
    const ratingsSlot = h("div", { id: "ratings" });
    main.replaceChildren(
      h("h1", { text: "Finished games" }),
      h("p", { class: "filter" }, h("label", { for: "game-filter", text: "Game " }), select),
      listSlot,
      h("h2", { text: "Leaderboard" }), boardSlot,
      h("h2", { text: "Ratings" }), ratingsSlot);
    window.GameCompetition.ratings(ratingsSlot, game); // Elo, from the history (competition.js)
    let history, leaders;
    try {
      const q = game ? `?game=${enc(game)}` : "";
      [history, leaders] = await Promise.all([api(`/api/history${q}${q ? "&" : "?"}limit=100`), api(`/api/leaderboard${q}`)]);
    } catch (err) {
      listSlot.replaceChildren(notice("error", `Could not load the history: ${err.message}`));
      return;
    }
    if (!history.store) {
      listSlot.replaceChildren(notice("info", "The history is switched off on this server, so finished games are not kept."));
      boardSlot.replaceChildren();
      return;
    }
    if (!history.games.length) {
      listSlot.replaceChildren(h("p", { class: "empty", text: "No finished games yet." }));
    } else {
      listSlot.replaceChildren(h("div", { class: "table-scroll" }, h("table", { class: "history", id: "history" },
        h("thead", {}, h("tr", {}, ...["Ended", "Game", "Session", "Players", "Result", "Duration", "Moves", ""].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, ...history.games.map((g) => h("tr", { "data-game-id": g.id },
          h("td", { text: dateTime(g.ended) }), h("td", { text: g.game }), h("td", { text: g.session }),
          h("td", { text: g.players.map((n, i) => n || `player ${i}`).join(", ") }),
          h("td", { class: "result " + g.result.kind, text: g.result.text + (g.own_timer ? " (not rated: its starter chose the timer)" : "") }),
          h("td", { text: duration(g.duration) }), h("td", { text: String(g.moves) }),
          h("td", {}, h("a", { href: `/replay/${g.id}`, text: "Replay", "aria-label": `replay game ${g.id}` }))))))));
    }
    const boards = Object.entries(leaders.leaderboard || {});
    if (!boards.length) {
      boardSlot.replaceChildren(h("p", { class: "empty", text: "Nothing to rank yet: only named players with a result are counted." }));
      return;
    }
    boardSlot.replaceChildren(h("div", { class: "leaderboards" }, ...boards.map(([name, rows]) => h("table", { class: "leaderboard", "data-game": name },
      h("caption", { text: name }),
      h("thead", {}, h("tr", {}, ...["#", "Player", "Wins", "Draws", "Losses", "Games"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, ...rows.map((r, i) => h("tr", {}, h("td", { text: String(i + 1) }), h("th", { scope: "row", text: r.name }),
        h("td", { text: String(r.wins) }), h("td", { text: String(r.draws) }), h("td", { text: String(r.losses) }), h("td", { text: String(r.games) }))))))),
    h("p", { class: "hint", text: `Counted from the last ${leaders.counted} finished games; unnamed players are not listed.` }));
  }

  // ------------------------------------------------------------ replay

  async function replayPage(id) {
    setPage(`Replay ${id}`, "history");
    const player = Number.parseInt(query("player") || "0", 10) || 0;
    let data;
    try {
      data = await api(`/api/history/${enc(id)}?player=${player}`);
    } catch (err) {
      main.replaceChildren(h("p", { class: "crumbs" }, h("a", { href: "/history", text: "← History" })),
        notice("error", `Cannot replay game ${id}: ${err.message}`));
      return;
    }
    if (data.store === false) {
      main.replaceChildren(notice("info", "The history is switched off on this server."));
      return;
    }
    const players = data.players.map((name, i) => ({ id: i, name }));
    const ctx = context(data.game, players, player);
    const frames = [data.initial, ...data.steps.map((s) => s.state)];
    let step = Math.min(Math.max(Number.parseInt(query("step") || "0", 10) || 0, 0), frames.length - 1);
    let timer = null;

    const board = h("div", { class: "board", id: "board" });
    const status = h("div", { class: "status-slot" });
    const position = h("p", { class: "position", id: "position", "aria-live": "polite" });
    const slider = h("input", { type: "range", id: "step", min: 0, max: frames.length - 1, value: step, "aria-label": "move" });
    const button = (label, title, action) => {
      const b = h("button", { type: "button", title, "aria-label": title, text: label });
      b.addEventListener("click", action);
      return b;
    };
    const play = button("▶ Play", "play", () => (timer ? stop() : start()));
    const moves = h("ol", { class: "moves", id: "moves" }, h("li", {}, h("button", { type: "button", "data-step": 0, text: "start" })),
      ...data.steps.map((s, i) => h("li", { class: s.rejection !== null && s.rejection !== undefined ? "rejected" : "" },
        h("button", { type: "button", "data-step": i + 1 },
          h("span", { class: "seq", text: `${s.seq}. ` }), tag(ctx, s.player_id), ": " + describeMove(s.move),
          s.rejection !== null && s.rejection !== undefined
            ? h("span", { class: "rejection", text: " rejected: " + (typeof s.rejection === "string" ? s.rejection : JSON.stringify(s.rejection)) }) : null))));
    moves.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-step]");
      if (b) go(Number(b.dataset.step));
    });

    function go(n) {
      step = Math.min(Math.max(n, 0), frames.length - 1);
      slider.value = String(step);
      const state = frames[step];
      if (state) GD.draw(board, data.game, state, ctx);
      else board.replaceChildren(notice("info", `No state recorded for this step${data.states_note ? `: ${data.states_note}` : ""}.`));
      board.dataset.step = String(step);
      status.replaceChildren(statusLine(state, ctx));
      const s = step > 0 ? data.steps[step - 1] : null;
      position.textContent = step === 0 ? `Start (0 of ${frames.length - 1} moves)`
        : `Move ${step} of ${frames.length - 1}: ${ctx.name(s.player_id)}: ${describeMove(s.move)}`;
      for (const b of moves.querySelectorAll("button[data-step]")) {
        if (Number(b.dataset.step) === step) b.setAttribute("aria-current", "step"); else b.removeAttribute("aria-current");
      }
      setQuery({ step: step || null });
      if (step === frames.length - 1) stop();
    }
    function start() {
      if (step === frames.length - 1) go(0);
      play.textContent = "❚❚ Pause"; play.setAttribute("aria-label", "pause"); play.title = "pause";
      timer = setInterval(() => go(step + 1), 1000);
    }
    function stop() {
      if (timer) clearInterval(timer);
      timer = null;
      play.textContent = "▶ Play"; play.setAttribute("aria-label", "play"); play.title = "play";
    }
    slider.addEventListener("input", () => go(Number(slider.value)));
    if (replayKeys) document.removeEventListener("keydown", replayKeys);
    replayKeys = (e) => {
      if (e.target instanceof HTMLInputElement && e.target.type !== "range") return;
      const keys = { ArrowLeft: () => go(step - 1), ArrowRight: () => go(step + 1), Home: () => go(0), End: () => go(frames.length - 1) };
      if (e.target === slider && e.key in keys) return; // the slider moves itself
      if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
    };
    document.addEventListener("keydown", replayKeys);

    main.replaceChildren(h("div", {},
      h("p", { class: "crumbs" }, h("a", { href: "/history", text: "← History" })),
      h("h1", {}, h("span", { class: "game-name", text: data.game }), " ", h("span", { class: "token", text: data.session }), " replay"),
      h("p", { class: "result-line" }, `${data.result.text} · ${dateTime(data.started)} · ${duration(data.duration)} · ${data.steps.length} moves`),
      players.length > 1 ? playerPicker("Replay the game as this player saw it", players, player, (pick) => {
        stop();
        setQuery({ player: pick });
        replayPage(id); // the same game, from the other player's side
      }) : null,
      data.hidden_moves ? h("p", { class: "hint", text: "This game has hidden information: other players' moves are not shown." }) : null,
      data.note ? h("p", { class: "hint", text: "Not all of this game is shown: " + data.note + "." }) : null,
      h("div", { class: "replay" },
        h("div", { class: "replay-main" },
          h("div", { class: "controls", role: "group", "aria-label": "replay controls" },
            button("⇤", "first", () => go(0)), button("←", "previous move", () => go(step - 1)), play,
            button("→", "next move", () => go(step + 1)), button("⇥", "last", () => go(frames.length - 1)), slider),
          position, status, board,
          h("p", { class: "hint", text: "Keys: ← → step, Home / End jump." })),
        h("nav", { class: "move-list", "aria-label": "moves" }, h("h2", { text: "Moves" }), moves))));
    go(step);
  }

  // ------------------------------------------------------------ start

  async function startApp() {
    const path = location.pathname.replace(/\/+$/, "") || "/";
    const games = await loadGames();
    let m;
    if (path === "/") lobbyPage(games);
    else if ((m = path.match(/^\/session\/([^/]+)\/([^/]+)$/))) spectatorPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    else if (path === "/history") await historyPage(games);
    else if ((m = path.match(/^\/replay\/(\d+)$/))) await replayPage(m[1]);
    else if (/^\/tournaments?(\/[^/]+)?$/.test(path)) { setPage("Tournaments", "tournaments"); await window.GameCompetition.page(main, path); }
    else if (path === "/play" || /^\/play\/[^/]+\/[^/]+$/.test(path)) await window.GamePlay.page(path, games); // play.js
    else main.replaceChildren(notice("error", "No such page. ", h("a", { href: "/", text: "Go to the lobby." })));
  }

  startApp().catch((err) => {
    console.error(err);
    main.replaceChildren(notice("error", `The dashboard failed: ${err.message}`));
  });
})();
