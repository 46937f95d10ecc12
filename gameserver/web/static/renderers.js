/* Renderers: turn one player's game state into a picture of the game.
 *
 * A renderer is a function (state, ctx) -> DOM node. `state` is exactly what
 * one player receives from `state()` (including "current" and "gameover");
 * `ctx` helps to draw it:
 *
 *   ctx.h(tag, attrs, ...children)  make an element; strings become text (never HTML)
 *   ctx.player                      id of the player whose view this is
 *   ctx.players                     [{id, name}] of the session
 *   ctx.name(id)                    a player's name ("player 1" when unnamed)
 *   ctx.colorClass(id)              CSS class with that player's colour ("p0" .. "p7")
 *   ctx.jsonTree(value)             the generic readable JSON tree
 *   ctx.game                        the game's name
 *
 * Register with GameDashboard.register("MyGame", function (state, ctx) {...}).
 * A game author ships one as MyGame.js next to the game's .py file; see
 * docs/dashboard.md. Game data is untrusted: build elements with ctx.h (or
 * textContent), never with innerHTML.
 */
"use strict";

(function () {
  const renderers = Object.create(null);

  /** Make an element. attrs: class, text, on<event>, aria-*, data-*, any attribute. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = String(value);
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else if (key === "style" && typeof value === "object") {
        for (const [prop, v] of Object.entries(value)) el.style.setProperty(prop, String(v));
      } else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** A readable, collapsible tree of any JSON value. */
  function jsonTree(value, depth) {
    depth = depth || 0;
    if (value === null) return h("span", { class: "j-null", text: "null" });
    if (typeof value === "string") return h("span", { class: "j-str", text: JSON.stringify(value) });
    if (typeof value === "number") return h("span", { class: "j-num", text: String(value) });
    if (typeof value === "boolean") return h("span", { class: "j-bool", text: String(value) });
    const isArray = Array.isArray(value);
    const entries = isArray ? value.map((v, i) => [i, v]) : Object.entries(value);
    if (entries.length === 0) return h("span", { class: "j-empty", text: isArray ? "[]" : "{}" });
    const flat = isArray && entries.every(([, v]) => v === null || typeof v !== "object");
    if (flat && JSON.stringify(value).length <= 80) {
      return h("span", { class: "j-inline", text: "[" + value.map((v) => JSON.stringify(v)).join(", ") + "]" });
    }
    const list = h("dl", { class: "j-" + (isArray ? "array" : "object") });
    for (const [key, v] of entries) {
      list.append(h("div", { class: "j-entry" },
        h("dt", { text: isArray ? "[" + key + "]" : key }), h("dd", {}, jsonTree(v, depth + 1))));
    }
    if (depth === 0) return h("div", { class: "json-tree" }, list);
    return h("details", { open: depth < 3 },
      h("summary", { text: `${entries.length} ${isArray ? "item" : "key"}${entries.length === 1 ? "" : "s"}` }), list);
  }

  function errorBox(message, details) {
    return h("div", { class: "error-box", role: "alert" },
      h("strong", { text: "Error: " }), String(message), details ? h("pre", { text: details }) : null);
  }

  function register(game, fn) {
    if (typeof fn !== "function") throw new TypeError("GameDashboard.register needs a function");
    renderers[game] = fn;
  }

  function hasRenderer(game) {
    return game in renderers;
  }

  /** Draw `state` with the game's renderer; the JSON tree if it has none or it fails. */
  function render(game, state, ctx) {
    if (state && typeof state === "object" && typeof state.error === "string" && Object.keys(state).length === 1) {
      return errorBox(state.error);
    }
    const fn = renderers[game];
    if (!fn) return jsonTree(state);
    try {
      const node = fn(state, ctx);
      if (!(node instanceof Node)) throw new TypeError("the renderer did not return a DOM node");
      return node;
    } catch (err) {
      console.error(err);
      return h("div", {}, errorBox(`the ${game} renderer failed: ${err.message}`), jsonTree(state));
    }
  }

  // ------------------------------------------------------------ helpers for renderers

  const isInt = (v) => Number.isInteger(v);
  const nameOr = (ctx, id) => (isInt(id) ? ctx.name(id) : "");

  function playerTag(ctx, id, extra) {
    return h("span", { class: "player-tag " + ctx.colorClass(id) }, ctx.name(id), extra || null);
  }

  function grid(rows, cols, cell, label) {
    const g = h("div", { class: "grid", role: "grid", "aria-label": label, style: { "--cols": cols } });
    for (let r = 0; r < rows; r++) {
      const row = h("div", { class: "grid-row", role: "row" });
      for (let c = 0; c < cols; c++) row.append(cell(r, c));
      g.append(row);
    }
    return g;
  }

  // ------------------------------------------------------------ TicTacToe

  const MARKS = ["X", "O"];

  register("TicTacToe", (state, ctx) => {
    const board = state.board;
    const cell = (r, c) => {
      const i = r * 3 + c;
      const v = board[i];
      const mark = isInt(v) && v >= 0 ? (MARKS[v] || String(v)) : "";
      return h("div", {
        class: "ttt-cell" + (mark ? " " + ctx.colorClass(v) : ""), role: "gridcell",
        "data-cell": i, "aria-label": `cell ${i}: ${mark ? mark + " (" + ctx.name(v) + ")" : "empty"}`,
      }, h("span", { class: "mark", text: mark }), h("span", { class: "cell-no", text: mark ? "" : String(i) }));
    };
    return h("div", { class: "board-wrap" },
      grid(3, 3, cell, "tic-tac-toe board"),
      h("p", { class: "legend" }, ...[0, 1].map((id) => playerTag(ctx, id, ` plays ${MARKS[id]}`))));
  });

  // ------------------------------------------------------------ ConnectFour

  register("ConnectFour", (state, ctx) => {
    const board = state.board;
    const rows = board.length, cols = rows ? board[0].length : 7;
    const cell = (r, c) => {
      const v = board[r][c];
      const who = isInt(v) && v >= 0;
      return h("div", { class: "c4-cell", role: "gridcell", "data-row": r, "data-col": c,
        "aria-label": `row ${r}, column ${c}: ${who ? ctx.name(v) : "empty"}` },
      h("span", { class: "disc" + (who ? " " + ctx.colorClass(v) : "") }));
    };
    const numbers = h("div", { class: "c4-numbers", "aria-hidden": "true" });
    for (let c = 0; c < cols; c++) numbers.append(h("span", { text: String(c) }));
    return h("div", { class: "board-wrap" },
      h("div", { class: "c4-frame" }, grid(rows, cols, cell, "connect four board"), numbers),
      h("p", { class: "legend" }, ...[0, 1].map((id) => h("span", {},
        h("span", { class: "disc swatch " + ctx.colorClass(id) }), " ", playerTag(ctx, id)))));
  });

  // ------------------------------------------------------------ Battleship

  const SEA = { ".": ["water", "water"], o: ["miss", "miss"], S: ["ship", "ship"], X: ["hit", "hit"], "#": ["sunk", "sunk"] };

  function seaGrid(rows, label) {
    const size = rows.length;
    const g = h("div", { class: "sea", role: "grid", "aria-label": label });
    g.append(h("div", { class: "sea-row sea-head", "aria-hidden": "true" }, h("span", {}),
      ...Array.from({ length: size }, (_, c) => h("span", { text: String(c) }))));
    rows.forEach((row, r) => {
      const line = h("div", { class: "sea-row", role: "row" }, h("span", { class: "sea-label", "aria-hidden": "true", text: String(r) }));
      Array.from(row).forEach((ch, c) => {
        const [cls, word] = SEA[ch] || ["unknown", ch];
        line.append(h("span", { class: "sea-cell " + cls, role: "gridcell", "data-cell": `${r},${c}`, "aria-label": `row ${r}, column ${c}: ${word}` }));
      });
      g.append(line);
    });
    return g;
  }

  register("Battleship", (state, ctx) => {
    const me = ctx.player, other = 1 - me;
    const last = state.last_shot;
    const lastText = last ? `${ctx.name(last.player)} shot at row ${last.row}, column ${last.col}: ${last.result}` : "no shots yet";
    return h("div", { class: "battleship" },
      h("p", { class: "phase" }, `Phase: ${state.phase}. `, lastText + "."),
      h("div", { class: "seas" },
        h("figure", {}, seaGrid(state.board, `${ctx.name(me)}'s own fleet`),
          h("figcaption", {}, playerTag(ctx, me), ` own fleet: ${state.ships_left} ships left`)),
        h("figure", {}, seaGrid(state.shots, `${ctx.name(me)}'s shots at ${ctx.name(other)}`),
          h("figcaption", {}, `shots at `, playerTag(ctx, other), `: ${state.opponent_ships_left} ships left`,
            state.opponent_ready ? "" : " (not placed yet)"))),
      h("p", { class: "legend sea-legend" },
        ...["water", "miss", "ship", "hit", "sunk"].map((k) => h("span", {}, h("span", { class: "sea-cell swatch " + k }), " " + k))));
  });

  // ------------------------------------------------------------ Nim

  register("Nim", (state, ctx) => {
    const heaps = state.heaps || [];
    return h("div", { class: "nim" },
      h("ol", { class: "heaps", start: 0 }, ...heaps.map((n, i) => h("li", { class: "heap", "data-heap": i, "aria-label": `heap ${i}: ${n} left` },
        h("span", { class: "heap-name", text: `heap ${i}` }),
        h("span", { class: "stones", "aria-hidden": "true" }, ...Array.from({ length: Math.min(n, 40) }, () => h("span", { class: "stone" }))),
        h("span", { class: "heap-count", text: String(n) })))));
  });

  // ------------------------------------------------------------ CrazyEights

  const SUITS = { C: ["♣", "clubs", "black"], D: ["♦", "diamonds", "red"], H: ["♥", "hearts", "red"], S: ["♠", "spades", "black"] };

  function card(code, extra) {
    const text = String(code);
    const suit = SUITS[text.slice(-1)];
    if (!suit) return h("span", { class: "card " + (extra || ""), text });
    const rank = text.slice(0, -1);
    return h("span", { class: `card ${suit[2]} ${extra || ""}`, "data-card": text, "aria-label": `${rank} of ${suit[1]}` },
      h("span", { class: "rank", text: rank }), h("span", { class: "suit", text: suit[0] }));
  }

  register("CrazyEights", (state, ctx) => {
    const suit = SUITS[state.suit];
    const sizes = state.hand_sizes || [];
    const others = sizes.map((n, id) => [n, id]).filter(([, id]) => id !== ctx.player);
    return h("div", { class: "crazy" },
      h("div", { class: "table-top" },
        h("div", { class: "pile" }, h("span", { class: "pile-label", text: "discard pile" }), card(state.top, "big")),
        h("div", { class: "pile" }, h("span", { class: "pile-label", text: "draw pile" }),
          h("span", { class: "card back big", "aria-label": `${state.draw_pile} cards` }, h("span", { class: "count", text: String(state.draw_pile) }))),
        h("div", { class: "pile follow" }, h("span", { class: "pile-label", text: "suit to follow" }),
          h("span", { class: "suit-big " + (suit ? suit[2] : ""), text: suit ? suit[0] : String(state.suit) }),
          h("span", { class: "pile-label", text: `direction ${state.direction === -1 ? "←" : "→"}` }))),
      h("div", { class: "opponents" }, ...others.map(([n, id]) => h("div", { class: "opponent" },
        playerTag(ctx, id), h("span", { class: "fan", "aria-label": `${n} cards` },
          ...Array.from({ length: Math.min(n, 12) }, () => h("span", { class: "card back small" }))),
        h("span", { class: "count", text: `${n} card${n === 1 ? "" : "s"}` })))),
      h("div", { class: "hand-wrap" }, h("h3", {}, playerTag(ctx, ctx.player), "'s hand",
        state.drawn ? ` (just drew ${state.drawn})` : ""),
      h("div", { class: "hand" }, ...(state.hand || []).map((c) => card(c, c === state.drawn ? "drawn" : "")))),
      state.log && state.log.length ? h("ol", { class: "game-log", "aria-label": "latest events" }, ...state.log.map((line) => h("li", { text: line }))) : null);
  });

  // ------------------------------------------------------------ Yahtzee

  const PIPS = { 1: [5], 2: [1, 9], 3: [1, 5, 9], 4: [1, 3, 7, 9], 5: [1, 3, 5, 7, 9], 6: [1, 3, 4, 6, 7, 9] };
  const UPPER = ["Ones", "Twos", "Threes", "Fours", "Fives", "Sixes"];

  function die(value, index) {
    const pips = PIPS[value] || [];
    return h("span", { class: "die", role: "img", "data-die": index, "aria-label": `die ${index}: ${value}` },
      ...Array.from({ length: 9 }, (_, i) => h("span", { class: pips.includes(i + 1) ? "pip" : "" })));
  }

  register("Yahtzee", (state, ctx) => {
    const card = state.scorecard || {};
    const nums = (keys) => keys.reduce((sum, k) => sum + (Number.isFinite(card[k]) ? card[k] : 0), 0);
    const upper = nums(UPPER);
    const all = nums(Object.keys(card));
    const bonus = upper >= 63 ? 35 : 0;
    const rows = Object.entries(card).map(([cat, pts]) => h("tr", { class: UPPER.includes(cat) ? "upper" : "lower" },
      h("th", { scope: "row", text: cat }), h("td", { class: pts === null ? "open" : "", text: pts === null ? "" : String(pts) })));
    const scoreTable = h("table", { class: "scorecard" },
      h("caption", {}, playerTag(ctx, ctx.player), "'s scorecard"),
      h("tbody", {}, ...rows),
      h("tfoot", {},
        h("tr", {}, h("th", { scope: "row", text: "Upper section (bonus at 63)" }), h("td", { text: `${upper}` })),
        h("tr", {}, h("th", { scope: "row", text: "Bonus" }), h("td", { text: String(bonus) })),
        h("tr", { class: "total" }, h("th", { scope: "row", text: "Total" }), h("td", { text: String(all + bonus) }))));
    const parts = [];
    if (Array.isArray(state.dice)) {
      parts.push(h("div", { class: "dice-row" },
        h("div", { class: "dice", "aria-label": "dice" }, ...state.dice.map((v, i) => die(v, i))),
        state.current_name ? h("p", { class: "turn-name" }, "Rolling: ", h("strong", { text: state.current_name })) : h("p", { class: "turn-name", text: "Choosing names" })));
    }
    if (state.ranking && typeof state.ranking === "object") {
      parts.push(h("table", { class: "ranking" }, h("caption", { text: "Final ranking" }),
        h("tbody", {}, ...Object.entries(state.ranking).map(([name, total], i) => h("tr", {},
          h("td", { text: String(i + 1) + "." }), h("th", { scope: "row", text: name }), h("td", { text: String(total) }))))));
    }
    parts.push(scoreTable);
    return h("div", { class: "yahtzee" }, ...parts);
  });

  // ------------------------------------------------------------ Chat

  function nameHue(name) {
    let hash = 0;
    for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return hash % 360;
  }

  register("Chat", (state) => {
    const messages = state.messages || [];
    if (!messages.length) return h("p", { class: "empty", text: "No messages yet." });
    const list = h("ol", { class: "chat", "aria-label": "messages", "aria-live": "polite" },
      ...messages.map(([name, text]) => h("li", { class: "bubble" },
        h("span", { class: "who", style: { "--hue": nameHue(name) }, text: name }), h("span", { class: "said", text }))));
    return h("div", { class: "chat-wrap" }, list);
  });

  // ------------------------------------------------------------ RockPaperScissors

  register("RockPaperScissors", (state, ctx) => {
    const score = state.score || [0, 0];
    const other = 1 - ctx.player;
    const current = state.gameover ? "" : state.you_chose
      ? `${ctx.name(ctx.player)} chose ${state.you_chose}; ${ctx.name(other)} ${state.opponent_has_chosen ? "has chosen too" : "has not chosen yet"}.`
      : `${ctx.name(ctx.player)} has not chosen yet; ${ctx.name(other)} ${state.opponent_has_chosen ? "has chosen" : "has not chosen yet"}.`;
    return h("div", { class: "rps" },
      h("p", { class: "scoreline" }, playerTag(ctx, 0), h("strong", { class: "score", text: ` ${score[0]} : ${score[1]} ` }), playerTag(ctx, 1)),
      h("p", { class: "round", text: `Round ${state.round}. ${current}` }),
      h("table", { class: "rps-history" }, h("caption", { text: "Rounds played" }),
        h("thead", {}, h("tr", {}, h("th", { text: "#" }), h("th", {}, playerTag(ctx, 0)), h("th", {}, playerTag(ctx, 1)), h("th", { text: "won by" }))),
        h("tbody", {}, ...(state.history || []).map(([a, b, w], i) => h("tr", {},
          h("td", { text: String(i + 1) }), h("td", { text: a }), h("td", { text: b }),
          h("td", { text: isInt(w) ? ctx.name(w) : "draw" }))))));
  });

  // ------------------------------------------------------------ NumberRace (the template game)

  register("NumberRace", (state, ctx) => {
    const counter = Number(state.counter) || 0;
    return h("div", { class: "race" },
      h("p", { class: "counter" }, h("strong", { text: String(counter) }), " / 21"),
      h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 21, "aria-valuenow": counter },
        h("span", { style: { width: `${Math.min(100, (counter / 21) * 100)}%` } })),
      h("ol", { class: "last-moves", "aria-label": "last moves" }, ...(state.last_moves || []).map(([id, add]) =>
        h("li", {}, playerTag(ctx, id), ` +${add}`))));
  });

  // ------------------------------------------------------------ Echo

  register("Echo", (state) => {
    const value = state.echo;
    return h("figure", { class: "echo" },
      typeof value === "string" ? h("blockquote", { text: value || "(nothing yet)" }) : jsonTree(value),
      h("figcaption", { text: "the last message" }));
  });

  window.GameDashboard = { register, render, hasRenderer, h, jsonTree, errorBox, nameOr };
})();
