from eflux.settings import *  # noqa: F403
from eflux.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.stations.inprocess_app.apps.InprocessConfig"]
