"""Flask extensions, created unbound and initialised by the application factory."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from loyalty.api_docs import LoyaltyApi
from loyalty.db import Base

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate(compare_type=True, render_as_batch=True)
api = LoyaltyApi()
