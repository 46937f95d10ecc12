"""The games that ship with the server.

Each module holds one game class; ``template.py`` is a commented tutorial
game for students writing their own, ``nim.py`` a second, shorter example,
and ``secret_code.py`` a short example of a game with a secret. The server
loads the classes listed in ``BUNDLED_GAMES``; clients ask for a game by its
class name.
"""

from gameserver.games.battleship import Battleship
from gameserver.games.chat import Chat
from gameserver.games.connect_four import ConnectFour
from gameserver.games.crazy_eights import CrazyEights
from gameserver.games.echo import Echo
from gameserver.games.nim import Nim
from gameserver.games.rock_paper_scissors import RockPaperScissors
from gameserver.games.secret_code import SecretCode
from gameserver.games.template import NumberRace
from gameserver.games.tictactoe import TicTacToe
from gameserver.games.yahtzee import Yahtzee

BUNDLED_GAMES = (Echo, TicTacToe, Chat, Yahtzee, NumberRace,
                 ConnectFour, RockPaperScissors, Battleship, CrazyEights, Nim, SecretCode)
