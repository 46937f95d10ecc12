"use strict";
// The game of the peers' benchmark, shared by their servers: tic-tac-toe rules as in
// gameserver/games/tictactoe.py (cells -1 = empty, 0/1 = the players' marks).

const LINES = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8],
  [0, 4, 8], [2, 4, 6]];

function winner(board) {
  for (const [a, b, c] of LINES) {
    if (board[a] !== -1 && board[a] === board[b] && board[b] === board[c]) return board[a];
  }
  return -1;
}

function full(board) {
  for (let i = 0; i < 9; i++) if (board[i] === -1) return false;
  return true;
}

function randomEmpty(board) {
  const empty = [];
  for (let i = 0; i < 9; i++) if (board[i] === -1) empty.push(i);
  return empty[Math.floor(Math.random() * empty.length)];
}

// The load generators' counts and their measured window. Each bot calls seated() on its
// first state from the server, moved() and restarted() as it acts. "ready" is printed when
// every bot has its first state (connecting takes its time: under load, longer than a smoke
// run's warm-up, and a window that began before the bots played counted no move), "start"
// after the warm-up, and "end <moves> <games>" after the window, which lasts until at least
// one move was counted (the figures divide by the real time), then the process exits.
const counts = { measuring: false, moves: 0, games: 0 };
let bots = Infinity; // known once measure() is called
let seatedBots = 0;
let window = null; // { warmup, seconds } until the warm-up begins
let late = false; // the window's time is up, no move was counted yet

function seated() {
  seatedBots++;
  begin();
}

function moved() {
  if (!counts.measuring) return;
  counts.moves++;
  if (late) finish();
}

function restarted() {
  if (counts.measuring) counts.games++;
}

function measure(botCount, warmup, seconds) {
  bots = botCount;
  window = { warmup, seconds };
  begin();
}

function begin() {
  if (window === null || seatedBots < bots) return;
  const { warmup, seconds } = window;
  window = null;
  console.log("ready");
  setTimeout(() => {
    counts.measuring = true;
    console.log("start");
    setTimeout(finish, seconds * 1000);
  }, warmup * 1000);
}

function finish() {
  if (counts.moves === 0) {
    late = true; // the first move ends it
    return;
  }
  counts.measuring = false;
  console.log(`end ${counts.moves} ${counts.games}`);
  process.exit(0);
}

module.exports = { winner, full, randomEmpty, seated, moved, restarted, measure };
