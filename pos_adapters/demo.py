"""`flask demo seed`: a believable Thai demo program."""

from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="Demo data.")
