"""One router per resource; :func:`whyrec.serve.create_app` assembles them."""
