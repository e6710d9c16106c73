"""The identity API, one module per idea: sign-in, tokens, the citizen's account, staff,
integrator clients, and the development stand-ins for the eID service and Keycloak."""
