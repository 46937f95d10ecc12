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
 * When the page is a player's seat (/play/...), ctx can also move:
 *
 *   ctx.clickable(el, move)         el sends `move` when clicked, or Enter / Space,
 *                                   if it is a legal move now; returns el
 *   ctx.move(move)                  send a move now
 *   ctx.myTurn                      whether this player may move now
 *   ctx.isLegal(move)               whether `move` is legal now (true when the game
 *                                   does not list its moves, on the player's turn)
 *   ctx.memory                      an object kept between drawings of this seat
 *
 * On other pages ctx.clickable is missing: draw with click(ctx, el, move)
 * below (or `ctx.clickable ? ctx.clickable(el, move) : el`) and the same
 * renderer serves spectators and players.
 *
 * Register with GameDashboard.register("MyGame", function (state, ctx) {...}).
 * A game author ships one as MyGame.js next to the game's .py file; see
 * docs/dashboard.md. Game data is untrusted: build elements with ctx.h (or
 * textContent), never with innerHTML.
 *
 * The renderers below are the server's own and draw in the page. A game
 * author's renderer (MyGame.js, served with web_renderers = "all") never runs
 * in the page: GameDashboard.draw puts it in a sandboxed frame (frame.js: an
 * opaque origin, no network, no storage, no access to this page), sends it
 * each state by postMessage and takes back only moves, which go through the
 * page's ctx.move when ctx.isLegal says so, nothing else.
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

  /** The same JSON for the same move, whatever the order of its keys. */
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  /**
   * A player's seat's ctx: `ctx` with playing, myTurn, legal, memory, isLegal, move and
   * clickable (see the top). `legal`: the legal moves or null; `move(m)` sends m.
   * play.js makes it on the page, frame.js in an author's renderer frame.
   */
  function seatContext(ctx, legal, myTurn, memory, move) {
    const allowed = new Set((legal || []).map(canonical));
    const isLegal = (m) => myTurn && (legal === null || allowed.has(canonical(m)));
    return Object.assign(ctx, {
      playing: true, myTurn, legal, memory, isLegal, move,
      /** Make `el` send `m` when clicked (or Enter / Space), if m is a legal move now. */
      clickable(el, m, options) {
        if (!isLegal(m)) return el;
        el.classList.add("clickable");
        el.dataset.move = canonical(m);
        if (options && options.focus === false) el.dataset.nofocus = "";
        else if (!(el instanceof HTMLButtonElement)) { el.tabIndex = 0; el.setAttribute("role", "button"); }
        el.addEventListener("click", (e) => { e.preventDefault(); move(m); });
        el.addEventListener("keydown", (e) => {
          if ((e.key === "Enter" || e.key === " ") && !(el instanceof HTMLButtonElement)) { e.preventDefault(); move(m); }
        });
        return el;
      },
    });
  }

  /** Arrow keys move the focus to the nearest move-element in that direction (keyboard play);
   * play.js sets it on the board, frame.js on an author's frame. */
  function arrowKeys(board) {
    board.addEventListener("keydown", (e) => {
      const dirs = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      const dir = dirs[e.key];
      if (!dir || e.altKey || e.ctrlKey || e.metaKey || (e.target instanceof HTMLInputElement) || (e.target instanceof HTMLTextAreaElement)) return;
      const targets = Array.from(board.querySelectorAll("[data-move]:not([data-nofocus])"));
      if (!targets.length) return;
      e.preventDefault();
      const from = targets.includes(document.activeElement) ? document.activeElement : null;
      if (!from) { targets[0].focus(); return; }
      const center = (el) => { const r = el.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };
      const [x0, y0] = center(from);
      let best = null;
      let bestScore = Infinity;
      for (const el of targets) {
        if (el === from) continue;
        const [x, y] = center(el);
        const along = (x - x0) * dir[0] + (y - y0) * dir[1];
        if (along <= 1) continue;
        const across = Math.abs((x - x0) * dir[1] + (y - y0) * dir[0]);
        const score = along + 3 * across;
        if (score < bestScore) { best = el; bestScore = score; }
      }
      if (best) best.focus();
    });
  }

  // ------------------------------------------------------------ game authors' renderers, framed

  const framed = Object.create(null); // game -> the URL of its renderer's frame document
  const frames = new Set(); // the frames drawn, to know whose messages come in
  const FRAME_HEIGHT = [40, 4000]; // px: a frame's height, at least and at most
  const MOVE_BYTES_MAX = 60000; // a move from a frame, as JSON, at most
  // Keys a frame passes on to the page when it has no use for them (frame.js): the replay's
  // steps, projector mode. The page takes no other key from a frame.
  const PAGE_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "p", "P", "Escape"]);
  const projector = () => document.documentElement.classList.contains("projector");

  /** Draw `game` with the author's renderer in the frame document at `url`. */
  function sandboxed(game, url) {
    framed[game] = url;
  }

  /** Draw `state` into `board`: replaces its content, or redraws the game's frame in it. */
  function draw(board, game, state, ctx) {
    const errorOnly = state && typeof state === "object" && typeof state.error === "string" && Object.keys(state).length === 1;
    if (!(game in framed) || errorOnly) {
      board.replaceChildren(render(game, state, ctx));
      return;
    }
    let frame = board.childElementCount === 1 ? board.firstElementChild : null;
    if (!frames.has(frame) || frame.dataset.game !== game) {
      for (const f of frames) if (!f.isConnected) frames.delete(f);
      frame = h("iframe", {
        class: "renderer-frame", src: framed[game], sandbox: "allow-scripts", referrerpolicy: "no-referrer",
        title: `${game}: the game's own renderer`, "data-game": game,
      });
      frame.ready = false;
      frames.add(frame);
      board.replaceChildren(frame); // re-inserting a frame would load it again: kept while it shows this game
    }
    frame.drawing = { game, state, ctx };
    if (frame.ready) post(frame);
  }

  /** Tell the frame how the page looks (projector mode), so that it draws alike. */
  function look(frame) {
    frame.contentWindow.postMessage({ type: "look", projector: projector() }, "*");
  }
  new MutationObserver(() => {
    for (const f of frames) if (f.isConnected && f.ready) look(f);
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });

  /** Send the frame what its renderer may know: the state and the ctx's data (no functions). */
  function post(frame) {
    const { game, state, ctx } = frame.drawing;
    const playing = typeof ctx.move === "function";
    frame.contentWindow.postMessage({
      type: "draw", game, state,
      ctx: { game, player: ctx.player, players: ctx.players || [], playing, myTurn: playing && Boolean(ctx.myTurn), legal: playing ? (ctx.legal ?? null) : null },
    }, "*");
  }

  /** A plain JSON object of bounded size (what a move is). */
  function isMove(value) {
    if (!value || typeof value !== "object" || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return false;
    try { return JSON.stringify(value).length <= MOVE_BYTES_MAX; } catch (err) { return false; }
  }

  window.addEventListener("message", (e) => {
    let frame = null;
    for (const f of frames) if (f.contentWindow === e.source) frame = f;
    const data = e.data;
    if (!frame || e.origin !== "null" || !data || typeof data !== "object") return; // a sandboxed frame's origin is "null"
    if (data.type === "ready") {
      frame.ready = true;
      look(frame);
      if (frame.drawing) post(frame);
    } else if (data.type === "height" && Number.isFinite(data.height)) {
      frame.style.height = `${Math.min(Math.max(Math.ceil(data.height), FRAME_HEIGHT[0]), FRAME_HEIGHT[1])}px`;
    } else if (data.type === "move" && frame.drawing) {
      const ctx = frame.drawing.ctx; // the page's: only a seat's ctx has move and isLegal
      if (typeof ctx.move === "function" && typeof ctx.isLegal === "function" && isMove(data.move) && ctx.isLegal(data.move)) ctx.move(data.move);
    } else if (data.type === "key" && PAGE_KEYS.has(data.key)) {
      // As if pressed on the frame element: the page's key handlers (replay, projector) run.
      frame.dispatchEvent(new KeyboardEvent("keydown", { key: data.key, bubbles: true, cancelable: true }));
    }
  });

  // ------------------------------------------------------------ helpers for renderers

  const isInt = (v) => Number.isInteger(v);
  const nameOr = (ctx, id) => (isInt(id) ? ctx.name(id) : "");

  function playerTag(ctx, id, extra) {
    return h("span", { class: "player-tag " + ctx.colorClass(id) }, ctx.name(id), extra || null);
  }

  /** `el`, made to send `move` when this is a player's page and the move is legal. */
  const click = (ctx, el, move, options) => (ctx.clickable ? ctx.clickable(el, move, options) : el);
  /** Whether this is a player's page and that player may move now. */
  const playing = (ctx) => Boolean(ctx.clickable && ctx.myTurn);

  /** A small form (one text field and a button) that sends move(value). */
  function textForm(ctx, label, button, makeMove, options) {
    const memory = ctx.memory || {};
    const id = "f-" + label.replace(/\W+/g, "-").toLowerCase();
    const input = h("input", { id, value: memory[id] || (options && options.value) || "", maxlength: 2000, autocomplete: "off" });
    input.addEventListener("input", () => { memory[id] = input.value; });
    const form = h("form", { class: "inline-form" }, h("label", { for: id, text: label }), input, h("button", { type: "submit", text: button }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const move = makeMove(input.value);
      if (!move) return;
      memory[id] = "";
      ctx.move(move);
    });
    return form;
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
      return click(ctx, h("div", {
        class: "ttt-cell" + (mark ? " " + ctx.colorClass(v) : ""), role: "gridcell",
        "data-cell": i, "aria-label": `cell ${i}: ${mark ? mark + " (" + ctx.name(v) + ")" : "empty"}`,
      }, h("span", { class: "mark", text: mark }), h("span", { class: "cell-no", text: mark ? "" : String(i) })), { position: i });
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
      return click(ctx, h("div", { class: "c4-cell", role: "gridcell", "data-row": r, "data-col": c,
        "aria-label": `row ${r}, column ${c}: ${who ? ctx.name(v) : "empty"}` },
      h("span", { class: "disc" + (who ? " " + ctx.colorClass(v) : "") })), { column: c }, { focus: false });
    };
    const numbers = h("div", { class: "c4-numbers", "aria-hidden": playing(ctx) ? null : "true" });
    for (let c = 0; c < cols; c++) {
      numbers.append(click(ctx, h("span", { text: String(c), "data-drop": c, "aria-label": playing(ctx) ? `drop a disc in column ${c}` : null }), { column: c }));
    }
    return h("div", { class: "board-wrap" },
      h("div", { class: "c4-frame" }, grid(rows, cols, cell, "connect four board"), numbers),
      h("p", { class: "legend" }, ...[0, 1].map((id) => h("span", {},
        h("span", { class: "disc swatch " + ctx.colorClass(id) }), " ", playerTag(ctx, id)))));
  });

  // ------------------------------------------------------------ Battleship

  const SEA = { ".": ["water", "water"], o: ["miss", "miss"], S: ["ship", "ship"], X: ["hit", "hit"], "#": ["sunk", "sunk"] };

  function seaGrid(rows, label, target) {
    const size = rows.length;
    const g = h("div", { class: "sea", role: "grid", "aria-label": label });
    g.append(h("div", { class: "sea-row sea-head", "aria-hidden": "true" }, h("span", {}),
      ...Array.from({ length: size }, (_, c) => h("span", { text: String(c) }))));
    rows.forEach((row, r) => {
      const line = h("div", { class: "sea-row", role: "row" }, h("span", { class: "sea-label", "aria-hidden": "true", text: String(r) }));
      Array.from(row).forEach((ch, c) => {
        const [cls, word] = SEA[ch] || ["unknown", ch];
        const cell = h("span", { class: "sea-cell " + cls, role: "gridcell", "data-cell": `${r},${c}`, "aria-label": `row ${r}, column ${c}: ${word}` });
        line.append(target ? target(cell, r, c) : cell);
      });
      g.append(line);
    });
    return g;
  }

  const FLEET = [5, 4, 3, 3, 2];
  const shipCells = ([r, c, len, dir]) => Array.from({ length: len }, (_, i) => (dir === "h" ? [r, c + i] : [r + i, c]));

  /** Setup for a player: click a cell to place the next ship there (R turns it), then send the fleet. */
  function fleetPlanner(state, ctx) {
    const memory = ctx.memory || {};
    const plan = memory.fleet || (memory.fleet = { ships: [], dir: "h", note: "" });
    const size = state.board.length || 10;
    const box = h("div", { class: "planner", id: "fleet-planner" });
    function fits(ship) {
      const taken = new Set(plan.ships.flatMap(shipCells).map(([r, c]) => r * size + c));
      return shipCells(ship).every(([r, c]) => r >= 0 && c >= 0 && r < size && c < size && !taken.has(r * size + c));
    }
    function place(r, c) {
      const ship = [r, c, FLEET[plan.ships.length], plan.dir];
      if (fits(ship)) { plan.ships.push(ship); plan.note = ""; } else plan.note = "That ship does not fit there: it must lie on the grid and not cross another.";
      draw([r, c]);
    }
    function draw(focusCell) {
      const rows = Array.from({ length: size }, () => Array(size).fill("."));
      for (const [r, c] of plan.ships.flatMap(shipCells)) rows[r][c] = "S";
      const next = FLEET[plan.ships.length];
      const sea = seaGrid(rows.map((row) => row.join("")), "your fleet: place your ships", next ? (cell, r, c) => {
        cell.tabIndex = 0;
        cell.setAttribute("role", "button");
        cell.dataset.move = `place ${r},${c}`;
        cell.setAttribute("aria-label", `place the ship of ${next} at row ${r}, column ${c}`);
        cell.addEventListener("click", () => place(r, c));
        cell.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); place(r, c); } });
        return cell;
      } : null);
      const button = (text, action, attrs) => { const b = h("button", { type: "button", text, ...(attrs || {}) }); b.addEventListener("click", action); return b; };
      const example = (ctx.legal || []).find((m) => Array.isArray(m.ships));
      box.replaceChildren(
        h("p", { class: "planner-help" }, next
          ? `Place your ship of ${next} (${plan.ships.length + 1} of ${FLEET.length}): click the cell where it starts; it runs ${plan.dir === "h" ? "to the right" : "downwards"}.`
          : "Your fleet is ready: send it."),
        sea,
        h("div", { class: "planner-buttons" },
          button(`Turn ships (R): ${plan.dir === "h" ? "across" : "down"}`, () => { plan.dir = plan.dir === "h" ? "v" : "h"; draw(); }, { id: "fleet-turn" }),
          button("Undo", () => { plan.ships.pop(); draw(); }, { disabled: !plan.ships.length }),
          example ? button("Random fleet", () => { plan.ships = example.ships.map((s) => s.slice()); draw(); }, { id: "fleet-random" }) : null,
          button("Send fleet", () => ctx.move({ ships: plan.ships }), { class: "primary", id: "fleet-send", disabled: plan.ships.length !== FLEET.length })),
        h("p", { class: "planner-note", role: "status", text: plan.note }));
      if (focusCell) {
        const el = box.querySelector(`[data-cell="${focusCell[0]},${focusCell[1]}"]`);
        if (el && el.tabIndex >= 0) el.focus(); else box.querySelector("#fleet-send:not([disabled])")?.focus();
      }
    }
    box.addEventListener("keydown", (e) => {
      if ((e.key === "r" || e.key === "R") && !e.ctrlKey && !e.metaKey && !e.altKey) {
        plan.dir = plan.dir === "h" ? "v" : "h";
        const at = document.activeElement && document.activeElement.dataset.cell;
        draw(at ? at.split(",").map(Number) : null);
      }
    });
    draw();
    return box;
  }

  register("Battleship", (state, ctx) => {
    const me = ctx.player, other = 1 - me;
    const last = state.last_shot;
    const lastText = last ? `${ctx.name(last.player)} shot at row ${last.row}, column ${last.col}: ${last.result}` : "no shots yet";
    const planning = playing(ctx) && state.phase === "setup" && !(state.ships || []).length;
    const shoot = playing(ctx) && state.phase === "shooting" ? (cell, r, c) => click(ctx, cell, { shot: [r, c] }) : null;
    return h("div", { class: "battleship" },
      h("p", { class: "phase" }, `Phase: ${state.phase}. `, lastText + "."),
      h("div", { class: "seas" },
        h("figure", {}, planning ? fleetPlanner(state, ctx) : seaGrid(state.board, `${ctx.name(me)}'s own fleet`),
          h("figcaption", {}, playerTag(ctx, me), ` own fleet: ${state.ships_left} ships left`)),
        h("figure", {}, seaGrid(state.shots, `${ctx.name(me)}'s shots at ${ctx.name(other)}`, shoot),
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
        h("span", { class: "stones", "aria-hidden": playing(ctx) ? null : "true" }, ...Array.from({ length: Math.min(n, 40) }, (_, j) => click(ctx,
          h("span", { class: "stone", "aria-label": playing(ctx) ? `take ${n - j} from heap ${i}` : null }), { heap: i, take: n - j }))),
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

  /** A card of the player's hand: playable by a click; an 8 offers the four suits to name. */
  function handCard(code, state, ctx) {
    const el = card(code, code === state.drawn ? "drawn" : "");
    if (!playing(ctx)) return el;
    if (String(code).slice(0, -1) !== "8") return click(ctx, el, { play: code });
    const suits = Object.keys(SUITS).filter((s) => ctx.isLegal({ play: code, suit: s }));
    if (!suits.length) return el;
    return h("span", { class: "eight" }, el, h("span", { class: "name-suit", role: "group", "aria-label": `play ${code} and name a suit` },
      ...suits.map((s) => click(ctx, h("button", { type: "button", class: "suit-button " + SUITS[s][2], "aria-label": `play ${code}, name ${SUITS[s][1]}`, text: SUITS[s][0] }), { play: code, suit: s }))));
  }

  register("CrazyEights", (state, ctx) => {
    const suit = SUITS[state.suit];
    const sizes = state.hand_sizes || [];
    const others = sizes.map((n, id) => [n, id]).filter(([, id]) => id !== ctx.player);
    return h("div", { class: "crazy" },
      h("div", { class: "table-top" },
        h("div", { class: "pile" }, h("span", { class: "pile-label", text: "discard pile" }), card(state.top, "big")),
        h("div", { class: "pile" }, h("span", { class: "pile-label", text: "draw pile" }),
          click(ctx, h("span", { class: "card back big", id: "draw-pile", "aria-label": `${state.draw_pile} cards` + (playing(ctx) ? ": draw one" : "") }, h("span", { class: "count", text: String(state.draw_pile) })), { draw: true })),
        h("div", { class: "pile follow" }, h("span", { class: "pile-label", text: "suit to follow" }),
          h("span", { class: "suit-big " + (suit ? suit[2] : ""), text: suit ? suit[0] : String(state.suit) }),
          h("span", { class: "pile-label", text: `direction ${state.direction === -1 ? "←" : "→"}` }))),
      h("div", { class: "opponents" }, ...others.map(([n, id]) => h("div", { class: "opponent" },
        playerTag(ctx, id), h("span", { class: "fan", "aria-label": `${n} cards` },
          ...Array.from({ length: Math.min(n, 12) }, () => h("span", { class: "card back small" }))),
        h("span", { class: "count", text: `${n} card${n === 1 ? "" : "s"}` })))),
      h("div", { class: "hand-wrap" }, h("h3", {}, playerTag(ctx, ctx.player), "'s hand",
        state.drawn ? ` (just drew ${state.drawn})` : ""),
      h("div", { class: "hand" }, ...(state.hand || []).map((c) => handCard(c, state, ctx))),
      playing(ctx) && ctx.isLegal({ pass: true }) ? click(ctx, h("button", { type: "button", class: "pass", id: "pass", text: "Pass" }), { pass: true }) : null),
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
    const turn = playing(ctx) && Boolean(state.current_name);
    const rows = Object.entries(card).map(([cat, pts]) => h("tr", { class: UPPER.includes(cat) ? "upper" : "lower", "data-category": cat },
      h("th", { scope: "row", text: cat }),
      turn ? click(ctx, h("td", { class: pts === null ? "open" : "", "aria-label": `score ${cat}`, text: pts === null ? "" : String(pts) }), { score: "add points", category: cat })
        : h("td", { class: pts === null ? "open" : "", text: pts === null ? "" : String(pts) }),
      turn ? h("td", { class: "cross" }, click(ctx, h("button", { type: "button", class: "cross-out", "aria-label": `cross out ${cat}`, title: `cross out ${cat} (0 points)`, text: "✗" }), { score: "cross out", category: cat })) : null));
    const scoreTable = h("table", { class: "scorecard" },
      h("caption", {}, playerTag(ctx, ctx.player), "'s scorecard"),
      h("tbody", {}, ...rows),
      h("tfoot", {},
        h("tr", {}, h("th", { scope: "row", text: "Upper section (bonus at 63)" }), h("td", { text: `${upper}` })),
        h("tr", {}, h("th", { scope: "row", text: "Bonus" }), h("td", { text: String(bonus) })),
        h("tr", { class: "total" }, h("th", { scope: "row", text: "Total" }), h("td", { text: String(all + bonus) }))));
    const parts = [];
    if (playing(ctx) && !state.current_name) {
      parts.push(textForm(ctx, "Your name for the scorecard", "Set name", (v) => (v.trim() ? { name: v.trim() } : null),
        { value: ctx.name(ctx.player).startsWith("player ") ? "" : ctx.name(ctx.player) }));
    }
    if (Array.isArray(state.dice)) {
      const rolling = turn && ctx.isLegal({ roll_dice: [0] });
      const keep = new Set();
      const reroll = h("button", { type: "button", id: "reroll", class: "primary", text: "Re-roll all dice" });
      const dice = state.dice.map((v, i) => {
        const d = die(v, i);
        if (!rolling) return d;
        d.setAttribute("role", "button");
        d.tabIndex = 0;
        d.dataset.move = `die ${i}`;
        d.setAttribute("aria-pressed", "false");
        d.setAttribute("aria-label", `die ${i}: ${v}, rolled again`);
        const toggle = () => {
          if (keep.has(i)) keep.delete(i); else keep.add(i);
          d.setAttribute("aria-pressed", String(keep.has(i)));
          d.classList.toggle("kept", keep.has(i));
          d.setAttribute("aria-label", `die ${i}: ${v}, ${keep.has(i) ? "kept" : "rolled again"}`);
          const n = 5 - keep.size;
          reroll.textContent = n === 5 ? "Re-roll all dice" : `Re-roll ${n} ${n === 1 ? "die" : "dice"}`;
          reroll.disabled = n === 0;
        };
        d.addEventListener("click", toggle);
        d.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
        return d;
      });
      reroll.addEventListener("click", () => ctx.move({ roll_dice: [0, 1, 2, 3, 4].filter((i) => !keep.has(i)) }));
      parts.push(h("div", { class: "dice-row" },
        h("div", { class: "dice", "aria-label": "dice" }, ...dice),
        rolling ? h("div", { class: "roll" }, reroll, h("span", { class: "hint", text: "Click the dice to keep; then score a box of the card." })) : null,
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

  register("Chat", (state, ctx) => {
    const messages = state.messages || [];
    const list = messages.length ? h("ol", { class: "chat", "aria-label": "messages", "aria-live": "polite" },
      ...messages.map(([name, text]) => h("li", { class: "bubble" },
        h("span", { class: "who", style: { "--hue": nameHue(name) }, text: name }), h("span", { class: "said", text }))))
      : h("p", { class: "empty", text: "No messages yet." });
    if (!playing(ctx)) return h("div", { class: "chat-wrap" }, list);
    const memory = ctx.memory || {};
    const name = h("input", { id: "chat-name", value: memory.name || (ctx.name(ctx.player).startsWith("player ") ? "" : ctx.name(ctx.player)), maxlength: 100, autocomplete: "nickname" });
    const text = h("input", { id: "chat-text", value: memory.draft || "", maxlength: 2000, autocomplete: "off" });
    name.addEventListener("input", () => { memory.name = name.value; });
    text.addEventListener("input", () => { memory.draft = text.value; });
    const form = h("form", { class: "inline-form chat-form" }, h("label", { for: "chat-name", text: "Name" }), name,
      h("label", { for: "chat-text", text: "Message" }), text, h("button", { type: "submit", text: "Send" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!name.value.trim()) { name.focus(); return; }
      memory.name = name.value.trim();
      memory.draft = "";
      ctx.move({ name: memory.name, message: text.value });
    });
    return h("div", { class: "chat-wrap" }, list, form);
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
      playing(ctx) ? h("div", { class: "choices", role: "group", "aria-label": "your choice" },
        ...["rock", "paper", "scissors"].map((c) => click(ctx, h("button", { type: "button", class: "choice", "data-choice": c, text: c }), { choice: c }))) : null,
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
      playing(ctx) ? h("div", { class: "choices", role: "group", "aria-label": "add" },
        ...[1, 2, 3].map((n) => click(ctx, h("button", { type: "button", class: "choice", "data-add": n, text: `+${n}` }), { add: n }))) : null,
      h("ol", { class: "last-moves", "aria-label": "last moves" }, ...(state.last_moves || []).map(([id, add]) =>
        h("li", {}, playerTag(ctx, id), ` +${add}`))));
  });

  // ------------------------------------------------------------ Echo

  register("Echo", (state, ctx) => {
    const value = state.echo;
    const shown = h("figure", { class: "echo" },
      typeof value === "string" ? h("blockquote", { text: value || "(nothing yet)" }) : jsonTree(value),
      h("figcaption", { text: "the last message" }));
    if (!playing(ctx)) return shown;
    return h("div", {}, shown, textForm(ctx, "Message", "Send", (v) => ({ msg: v })),
      click(ctx, h("button", { type: "button", id: "echo-quit", text: "Quit (ends the game)" }), { msg: "quit" }));
  });

  // ------------------------------------------------------------ SecretCode

  register("SecretCode", (state, ctx) => {
    const colours = state.colours || [];
    const peg = (c) => h("span", { class: "peg peg-" + String(c), title: String(c), "aria-label": String(c), text: String(c).slice(0, 1).toUpperCase() });
    const pegs = (list) => h("span", { class: "pegs" }, ...list.map(peg));
    const code = Array.isArray(state.code) ? pegs(state.code)
      : h("span", { class: "pegs hidden-code", "aria-label": "hidden" }, ...[0, 1, 2].map(() => h("span", { class: "peg unknown", text: "?" })));
    const parts = [
      h("p", { class: "code-line" }, "Code: ", code, ` (made by ${ctx.name(0)}; ${ctx.name(1)} guesses)`),
      h("table", { class: "guesses" }, h("caption", { text: `Guesses (${state.tries_left} tries left)` }),
        h("tbody", {}, ...(state.guesses || []).map((g, i) => h("tr", {}, h("td", { text: String(i + 1) + "." }), h("td", {}, pegs(g.guess)),
          h("td", { text: `${g.right} in the right place` }))))),
    ];
    if (playing(ctx)) {
      const memory = ctx.memory || {};
      const key = ctx.player === 0 ? "code" : "guess";
      const pick = memory.pick || (memory.pick = []);
      const slots = h("span", { class: "pegs slots", "aria-live": "polite" });
      const send = h("button", { type: "button", class: "primary", id: "code-send", text: key === "code" ? "Set the code" : "Guess" });
      const redraw = () => {
        slots.replaceChildren(...[0, 1, 2].map((i) => (pick[i] ? peg(pick[i]) : h("span", { class: "peg empty", text: "·" }))));
        send.disabled = pick.length !== 3;
      };
      send.addEventListener("click", () => { const chosen = pick.splice(0); redraw(); ctx.move({ [key]: chosen }); });
      const clear = h("button", { type: "button", text: "Clear" });
      clear.addEventListener("click", () => { pick.length = 0; redraw(); });
      const palette = h("span", { class: "palette", role: "group", "aria-label": "colours" }, ...colours.map((c) => {
        const b = h("button", { type: "button", class: "peg-button peg-" + c, "data-colour": c, "data-move": `colour ${c}`, text: c });
        b.addEventListener("click", () => { if (pick.length < 3) pick.push(c); redraw(); });
        return b;
      }));
      redraw();
      parts.push(h("div", { class: "code-picker" }, h("p", { text: key === "code" ? "Make the secret code:" : "Your guess:" }), palette, h("p", {}, slots, " ", clear, " ", send)));
    }
    return h("div", { class: "secret-code" }, ...parts);
  });

  /** A size in bytes for people: "700 KiB", "1.3 MiB". */
  function bytesText(n) {
    return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`;
  }

  window.GameDashboard = { register, render, draw, sandboxed, seatContext, arrowKeys, PAGE_KEYS, hasRenderer, h, jsonTree, errorBox, nameOr, click, bytesText };
})();
