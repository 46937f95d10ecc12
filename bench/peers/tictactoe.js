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

// The load generators' counts and their measured window: print "ready" (all seated),
// "start" after the warm-up and "end <moves> <games>" after the window, then exit.
const counts = { measuring: false, moves: 0, games: 0 };

function measure(warmup, seconds) {
  console.log("ready");
  setTimeout(() => {
    counts.measuring = true;
    console.log("start");
    setTimeout(() => {
      counts.measuring = false;
      console.log(`end ${counts.moves} ${counts.games}`);
      process.exit(0);
    }, seconds * 1000);
  }, warmup * 1000);
}

module.exports = { winner, full, randomEmpty, counts, measure };
