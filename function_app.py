"""Entry point the Functions host indexes: the app and its blueprints, nothing else."""

import azure.functions as func

from availability.agents.blueprint import bp as agent_tools
from availability.besttimes.blueprint import bp as best_times_functions
from availability.http.blueprint import bp as http_functions
from availability.notifications.blueprint import bp as notification_functions
from availability.public.blueprint import bp as public_functions
from availability.timer import bp as timer_functions

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http_functions)
app.register_functions(best_times_functions)
app.register_functions(public_functions)
app.register_functions(notification_functions)
app.register_functions(timer_functions)
app.register_functions(agent_tools)
