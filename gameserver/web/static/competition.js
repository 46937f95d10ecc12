/* Competition pages: tournaments (list, one tournament), ratings, turn-timer countdowns.
 *
 * app.js hands over the pages /tournaments and /tournament/NAME
 * (GameCompetition.page), the ratings part of the history page
 * (GameCompetition.ratings) and the countdown of a running session
 * (GameCompetition.countdown). Everything from the server is inserted as
 * text (GameDashboard.h / textContent), never as HTML.
 */
"use strict";

(function () {
  const GD = window.GameDashboard;
  const h = GD.h;
  const enc = encodeURIComponent;
  const REFRESH_MS = 2000; // a running tournament's page asks again this often
  const CHART_PLAYERS = 8; // rating histories drawn at most
  const SVG = "http://www.w3.org/2000/svg";

  async function api(path, options) {
    const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store", ...options });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
    return data;
  }

  function post(path, body) {
    return api(path, { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  }

  const points = (value) => {
    if (typeof value !== "number") return "–";
    const whole = Math.floor(value);
    return (whole || value === whole ? String(whole) : "") + (value !== whole ? "½" : "");
  };

  function notice(kind, ...content) {
    return h("div", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, ...content);
  }

  function table(id, caption, columns, rows) {
    return h("div", { class: "table-scroll" }, h("table", { class: "competition", id },
      h("caption", { class: "visually-hidden", text: caption }),
      h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, ...rows)));
  }

  // ------------------------------------------------------------ the list

  async function listPage(main) {
    document.title = "Tournaments · gameserver";
    const slot = h("div", {});
    const formSlot = h("div", {});
    main.replaceChildren(h("h1", { text: "Tournaments" }), slot, formSlot);
    let data, games;
    try {
      [data, games] = await Promise.all([api("/api/tournaments"), api("/api/games")]);
    } catch (err) {
      slot.replaceChildren(notice("error", `Could not load the tournaments: ${err.message}`));
      return;
    }
    const rows = data.tournaments.map((t) => h("tr", { "data-tournament": t.name },
      h("th", { scope: "row" }, h("a", { href: `/tournament/${enc(t.name)}`, text: t.name })),
      h("td", { text: t.game }), h("td", { text: t.format }),
      h("td", {}, h("span", { class: "badge " + t.state, text: t.state })),
      h("td", { text: String(t.participants) }),
      h("td", { text: t.rounds ? `${t.round} of ${t.rounds}` : "–" }),
      h("td", { text: t.leader || "–" })));
    slot.replaceChildren(rows.length
      ? table("tournaments", "Tournaments", ["Name", "Game", "Format", "State", "Participants", "Round", "Leading"], rows)
      : h("p", { class: "empty", text: "No tournaments yet." }));
    if (data.operator) formSlot.replaceChildren(createForm(games));
    else formSlot.replaceChildren(h("p", { class: "hint", text: "The operator (with the dashboard's access token) creates tournaments here, or with python3 -m gameserver tournament create." }));
  }

  function createForm(games) {
    const field = (label, input) => h("p", {}, h("label", {}, label + " ", input));
    const name = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9_-]{1,40}", placeholder: "final" });
    const game = h("select", { name: "game" }, ...games.filter((g) => !g.error && g.min_players <= 2 && g.max_players >= 2)
      .map((g) => h("option", { value: g.name, text: g.name })));
    const format = h("select", { name: "format" }, h("option", { value: "round-robin", text: "round robin" }), h("option", { value: "swiss", text: "Swiss" }));
    const number = (key, value, min, step) => h("input", { name: key, type: "number", value, min, step: step || 1 });
    const inputs = { best_of: number("best_of", 1, 1), rounds: number("rounds", 0, 0), turn_timeout: number("turn_timeout", 10, 0.1, 0.1),
      game_clock: number("game_clock", 0, 0, 0.1), max_moves: number("max_moves", 1000, 0), start_with: number("start_with", 0, 0) };
    const result = h("div", { role: "status" });
    const form = h("form", { id: "create-tournament", class: "create" },
      h("h2", { text: "New tournament" }),
      field("Name", name), field("Game", game), field("Format", format),
      field("Games per match (best of)", inputs.best_of), field("Swiss rounds (0: enough to find a winner)", inputs.rounds),
      field("Seconds per move", inputs.turn_timeout), field("Chess clock, seconds per game (0: none)", inputs.game_clock),
      field("Moves after which a game is a draw (0: no limit, needs a chess clock)", inputs.max_moves),
      field("Start once this many have registered (0: I start it)", inputs.start_with),
      h("p", {}, h("button", { type: "submit", text: "Create" })), result);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const settings = { name: name.value, game: game.value, format: format.value };
      for (const [key, input] of Object.entries(inputs)) settings[key] = Number(input.value);
      try {
        const made = await post("/api/tournaments", settings);
        location.href = `/tournament/${enc(made.name)}`;
      } catch (err) {
        result.replaceChildren(notice("error", err.message));
      }
    });
    return form;
  }

  // ------------------------------------------------------------ one tournament

  async function tournamentPage(main, name) {
    document.title = `Tournament ${name} · gameserver`;
    let timer = null;
    let lastText = "";
    async function refresh() {
      let data;
      try {
        data = await api(`/api/tournaments/${enc(name)}`);
      } catch (err) {
        main.replaceChildren(h("p", { class: "crumbs" }, h("a", { href: "/tournaments", text: "← Tournaments" })),
          notice("error", `Cannot show tournament ${name}: ${err.message}`));
        return;
      }
      const text = JSON.stringify(data);
      if (text !== lastText) {
        lastText = text;
        draw(main, name, data, refresh);
      }
      clearTimeout(timer);
      if (data.state === "registering" || data.state === "running") timer = setTimeout(refresh, REFRESH_MS);
    }
    await refresh();
  }

  function draw(main, name, data, refresh) {
    const s = data.settings;
    const head = h("div", { class: "section-head" },
      h("h1", {}, "Tournament ", h("span", { class: "token", text: name })),
      h("span", { class: "badge " + data.state, id: "tournament-state", text: data.state }));
    const facts = h("p", { class: "facts", text: `${s.game} · ${s.format === "swiss" ? "Swiss" : "round robin"} · best of ${s.best_of} · ${s.turn_timeout} s per move` +
      (s.game_clock ? ` · ${s.game_clock} s per game` : "") + (s.max_moves ? ` · a draw after ${s.max_moves} moves` : "") + (data.planned_rounds ? ` · ${data.rounds_played} of ${data.planned_rounds} rounds` : "") });
    const join = h("details", { class: "how-to-join" }, h("summary", { text: "How to take part" }),
      h("pre", { text: `api = GameServerAPI(SERVER, 4711, '${s.game}', session='tournament-${name}', name='YOUR_NAME#PASSWORD')\n` +
        "while True:\n    my_id = api.join()      # waits for your next game; an error says the tournament is over\n" +
        "    state = api.state()\n    while not state['gameover']:\n        if my_id in state['current']:\n            api.move(...)\n        state = api.state()" }));
    const parts = [h("p", { class: "crumbs" }, h("a", { href: "/tournaments", text: "← Tournaments" })), head, facts, join, operatorBar(name, data, refresh)];
    if (data.stopped_because) parts.splice(3, 0, h("div", { class: "notice error", role: "alert", id: "stopped-because", text: `Stopped by the server: ${data.stopped_because}` }));
    if (data.state === "registering") {
      parts.push(h("h2", { text: `Registered (${data.participants.length})` }),
        data.participants.length ? h("ul", { class: "participants", id: "participants" }, ...data.participants.map((p) => h("li", { text: p.name })))
          : h("p", { class: "empty", text: "Nobody has registered yet." }));
    } else {
      parts.push(standings(data), crosstable(data), rounds(data));
    }
    main.replaceChildren(...parts);
  }

  function operatorBar(name, data, refresh) {
    const bar = h("p", { class: "actions" },
      h("a", { href: `/api/tournaments/${enc(name)}/standings.csv`, download: `${name}-standings.csv`, text: "Standings as CSV" }), " · ",
      h("a", { href: `/api/tournaments/${enc(name)}/games.csv`, download: `${name}-games.csv`, text: "Games as CSV" }));
    if (!data.operator) return bar;
    const result = h("span", { role: "status" });
    const button = (action, label, enabled) => {
      const b = h("button", { type: "button", "data-action": action, text: label, disabled: !enabled });
      b.addEventListener("click", async () => {
        const words = { cancel: `Cancel tournament ${name}? Its running games count for nothing.`,
          delete: `Delete tournament ${name}? Its standings and rounds are gone. Its games stay in the history and keep counting in the ratings: deleting it changes nobody's rating.` };
        if (action !== "start" && !window.confirm(words[action])) return;
        try {
          await post(`/api/tournaments/${enc(name)}/${action}`);
          if (action === "delete") location.href = "/tournaments"; else refresh();
        } catch (err) {
          result.replaceChildren(notice("error", err.message));
        }
      });
      return b;
    };
    const over = data.state === "finished" || data.state === "cancelled";
    bar.append(" · ", button("start", "Start", data.state === "registering"), " ",
      button("cancel", "Cancel", !over), " ", button("delete", "Delete", over), " ", result);
    if (over) bar.append(h("span", { class: "hint", id: "delete-hint", text: " Deleting it keeps its games in the history and in the ratings." }));
    return bar;
  }

  function standings(data) {
    const swiss = data.settings.format === "swiss";
    const rows = data.standings.map((r) => h("tr", { "data-name": r.name, class: r.withdrawn ? "withdrawn" : "" },
      h("td", { text: String(r.place) }), h("th", { scope: "row", text: r.name + (r.withdrawn ? " (withdrawn)" : "") }),
      h("td", { class: "points", text: points(r.points) }), h("td", { text: points(r.tiebreak) }), h("td", { text: points(r.game_points) }),
      h("td", { text: `${r.wins}–${r.draws}–${r.losses}` }), h("td", { text: String(r.games) }),
      h("td", { text: String(r.lost_on_time) }), h("td", { text: String(r.lost_absent) })));
    return h("section", {}, h("h2", { text: "Standings" }),
      table("standings", "Standings", ["#", "Participant", "Points", swiss ? "Buchholz" : "Sonneborn-Berger", "Game points", "Won–drawn–lost", "Games", "Lost on time", "Lost absent"], rows),
      h("p", { class: "hint", text: "A match won counts 1, drawn ½. Lost on time: ran out of time in a game. Lost absent: not played, the participant was gone." }));
  }

  function crosstable(data) {
    if (!data.crosstable) {
      return h("section", {}, h("h2", { text: "Crosstable" }),
        h("p", { class: "hint", id: "no-crosstable", text: `Not shown for a tournament of ${data.participants.length} participants (too large to draw): Games as CSV has who played whom.` }));
    }
    const names = data.crosstable.names;
    const rows = data.crosstable.rows.map((row, i) => h("tr", {},
      h("th", { scope: "row", text: `${i + 1}. ${row.name}` }),
      ...row.cells.map((cell, j) => {
        if (i === j) return h("td", { class: "self", text: "×" });
        if (!cell) return h("td", { class: "none", text: "" });
        const kind = !cell.finished ? "playing" : cell.points === 1 ? "won" : cell.points === 0.5 ? "drawn" : "lost";
        return h("td", { class: kind, title: `${row.name} against ${names[j]}: ${kind}${cell.forfeit ? " (forfeit)" : ""}`, text: cell.score + (cell.forfeit ? "*" : "") });
      })));
    return h("section", {}, h("h2", { text: "Crosstable" }),
      table("crosstable", "Crosstable: game points of the row's participant against the column's", ["", ...names.map((n, i) => `${i + 1}`)], rows),
      h("p", { class: "hint", text: "Each cell: the row's game points against the column's. * : a game was lost without being played." }));
  }

  function rounds(data) {
    const game = data.settings.game;
    const section = h("section", {}, h("h2", { text: "Rounds" }));
    if (data.rounds_from > 1) {
      section.append(h("p", { class: "hint", id: "rounds-hidden", text: `Rounds 1 to ${data.rounds_from - 1} are not shown here: Games as CSV has every game.` }));
    }
    data.rounds.slice().reverse().forEach((matches, k) => {
      const number = data.rounds_played - k;
      const items = matches.map((m) => {
        if (m.names[1] === null) return h("li", { text: `${m.names[0]}: bye` });
        const games = m.games.map((g, n) => {
          const text = `${n + 1}: ${g.seats[0]} ${points(g.points[0])}–${points(g.points[1])} ${g.seats[1]}` + (g.reason === "played" ? "" : ` (${g.reason === "timeout" ? "on time" : g.reason === "limit" ? "move limit" : g.reason})`);
          return h("li", {}, g.history_id ? h("a", { href: `/replay/${g.history_id}`, text: text }) : text);
        });
        if (m.running) {
          games.push(h("li", { class: "running" }, h("a", { href: `/session/${enc(game)}/${enc(`tournament-${data.settings.name}/${m.running}`)}`, text: `game ${m.games.length + 1}: live` })));
        }
        const score = m.points ? ` ${points(m.points[m.names[0]])}–${points(m.points[m.names[1]])}` : "";
        return h("li", { class: "match" + (m.done ? " done" : "") }, h("strong", { text: `${m.names[0]} – ${m.names[1]}${score}` }), h("ol", {}, ...games));
      });
      section.append(h("h3", { text: `Round ${number}` }), h("ul", { class: "matches" }, ...items));
    });
    return section;
  }

  // ------------------------------------------------------------ ratings

  async function ratings(slot, game) {
    let data;
    try {
      data = await api(`/api/ratings${game ? `?game=${enc(game)}` : ""}`);
    } catch (err) {
      slot.replaceChildren(notice("error", `Could not load the ratings: ${err.message}`));
      return;
    }
    if (data.store === false) { slot.replaceChildren(); return; }
    const boards = Object.entries(data.ratings || {});
    if (!boards.length) {
      slot.replaceChildren(h("p", { class: "empty", text: data.named ? "No rated games yet: games between named players count." : "No rated games yet: tournament games count." }));
      return;
    }
    slot.replaceChildren(...boards.map(([name, rows]) => h("div", { class: "ratings", "data-game": name },
      h("h3", { text: name }),
      table(`ratings-${name}`, `Elo ratings in ${name}`, ["#", "Player", "Rating", "Games", "Won–drawn–lost"],
        rows.map((r, i) => h("tr", {}, h("td", { text: String(i + 1) }), h("th", { scope: "row", text: r.name }),
          h("td", { text: r.rating.toFixed(0) }), h("td", { text: String(r.games) }), h("td", { text: `${r.wins}–${r.draws}–${r.losses}` })))),
      chart(rows.slice(0, CHART_PLAYERS)))),
    h("p", { class: "hint", text: "Elo, starting at 1500, K = 32; computed from the finished games in the history." }));
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    el.append(...children);
    return el;
  }

  /** Each player's rating after each of their games, as lines (x: the game's end). */
  function chart(rows) {
    const width = 640, height = 220, pad = 36;
    const all = rows.flatMap((r) => r.history);
    if (!all.length) return h("p", {});
    const times = all.map((p) => p[0]), values = all.map((p) => p[1]).concat([1500]);
    const t0 = Math.min(...times), t1 = Math.max(...times), v0 = Math.min(...values) - 10, v1 = Math.max(...values) + 10;
    const x = (t) => pad + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (width - 2 * pad);
    const y = (v) => height - pad - (v - v0) / (v1 - v0) * (height - 2 * pad);
    const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "rating-chart", role: "img", "aria-label": "rating history" },
      svg("line", { x1: pad, x2: width - pad, y1: y(1500), y2: y(1500), class: "baseline" }),
      svg("text", { x: 2, y: y(1500) + 4, class: "axis" }, "1500"));
    rows.forEach((r, i) => {
      const line = r.history.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      picture.append(svg("polyline", { points: line, class: `series p${i % 8}` }, svg("title", {}, r.name)));
    });
    const legend = h("ul", { class: "legend" }, ...rows.map((r, i) => h("li", {}, h("span", { class: `swatch p${i % 8}` }), r.name)));
    return h("figure", { class: "rating-history" }, picture, h("figcaption", {}, "Rating history ", legend));
  }

  // ------------------------------------------------------------ countdown

  const clocks = new Set();
  setInterval(() => {
    for (const el of clocks) {
      if (!document.contains(el)) { clocks.delete(el); continue; }
      tick(el);
    }
  }, 250);

  function tick(el) {
    const left = Number(el.dataset.deadline) - (Date.now() / 1000 + Number(el.dataset.offset));
    el.textContent = `${Math.max(0, left).toFixed(left < 10 ? 1 : 0)} s`;
    el.classList.toggle("low", left < 5);
  }

  /** The time each current player has left, counting down: for a session summary's timer. */
  function countdown(timer, now, ctx) {
    const offset = typeof now === "number" ? now - Date.now() / 1000 : 0;
    const items = [];
    (timer.deadlines || []).forEach((deadline, id) => {
      if (typeof deadline !== "number") return;
      const el = h("span", { class: "countdown", "data-deadline": deadline, "data-offset": offset });
      tick(el);
      clocks.add(el);
      items.push(h("span", { class: "timer-entry" }, ctx.name(id), ": ", el));
    });
    const limit = timer.turn_timeout ? `${timer.turn_timeout} s per move` : `${timer.game_clock} s per game`;
    return h("span", { class: "timer", title: limit }, ...(items.length ? items.flatMap((e, i) => (i ? [", ", e] : [e])) : ["–"]));
  }

  function page(main, path) {
    const m = path.match(/^\/tournament\/([^/]+)$/);
    if (m) return tournamentPage(main, decodeURIComponent(m[1]));
    return listPage(main);
  }

  window.GameCompetition = { page, ratings, countdown };
})();
