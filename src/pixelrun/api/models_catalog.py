"""The catalog of models this API serves: what `/v1/models` shows and how runs are checked and priced.

The entries are the engine registry's (engines/registry.py), read torch-free: the API
never loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pydantic import BaseModel

from pixelrun.api.wire import AvailabilityOut, ModelOut, PricingOut
from pixelrun.engines.model_spec import ModelSpec
from pixelrun.engines.registry import MODELS
from pixelrun.runs import PRICE_PER_MEGAPIXEL
from pixelrun.store import ModelFailure


@dataclass(frozen=True)
class CatalogModel(ModelSpec):
    """A registry entry, with its wire form."""

    @classmethod
    def of(cls, spec: ModelSpec) -> CatalogModel:
        return cls(**{field.name: getattr(spec, field.name) for field in fields(ModelSpec)})

    def to_wire(
        self, workers_ready: int, workers_loading: int = 0, failure: ModelFailure | None = None
    ) -> ModelOut:
        return ModelOut(
            id=self.id,
            name=self.name,
            description=self.description,
            pricing=PricingOut(unit="megapixel", price=str(PRICE_PER_MEGAPIXEL), currency="USD"),
            input_schema=_schema(self.input_model),
            output_schema=_schema(self.output_model),
            availability=AvailabilityOut(
                workers_ready=workers_ready,
                available=workers_ready > 0,
                workers_loading=workers_loading,
                # A failure matters while no worker serves; once one is ready it is history.
                reason=failure.reason if failure and not workers_ready else None,
                message=failure.message if failure and not workers_ready else None,
            ),
        )


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


CATALOG: dict[str, CatalogModel] = {model_id: CatalogModel.of(spec) for model_id, spec in MODELS.items()}


def get_catalog_model(model_id: str) -> CatalogModel | None:
    return CATALOG.get(model_id)
