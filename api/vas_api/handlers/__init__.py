"""One APIRouter per concern; ``create_app`` includes them all."""
