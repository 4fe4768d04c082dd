"""One router per resource; routes parse, call one service function and return a view."""
