"""Health-plan portal synchronisations (seed 001): the catalogue, engine, exports and manager."""
