"""The games that ship with the server.

Each module holds one game class; ``template.py`` is a commented tutorial
game for students writing their own. The server loads the classes listed in
``BUNDLED_GAMES``; clients ask for a game by its class name.
"""

from gameserver.games.chat import Chat
from gameserver.games.echo import Echo
from gameserver.games.template import NumberRace
from gameserver.games.tictactoe import TicTacToe
from gameserver.games.yahtzee import Yahtzee

BUNDLED_GAMES = (Echo, TicTacToe, Chat, Yahtzee, NumberRace)
