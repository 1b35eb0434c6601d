"""The catalog of models this API serves: what `/v1/models` shows and how runs are checked and priced.

Only torch-free schema modules are imported here (the API never loads the model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from pixelrun.api.wire import AvailabilityOut, ModelOut, PricingOut
from pixelrun.engines.qwen_image_edit import LIGHTNING_MODEL_ID as QWEN_IMAGE_EDIT_2511_LIGHTNING
from pixelrun.engines.qwen_image_edit import MODEL_ID as QWEN_IMAGE_EDIT_2511
from pixelrun.engines.qwen_image_edit import EditInput, EditOutput, LightningEditInput
from pixelrun.runs import PRICE_PER_MEGAPIXEL, estimate_cents
from pixelrun.store.availability import ModelFailure

# When the output size follows the input image (size null), the model aims at about one
# megapixel; the credit check assumes exactly that before any image is fetched.
DEFAULT_ESTIMATE_SIZE = (1024, 1024)


@dataclass(frozen=True)
class CatalogModel:
    id: str
    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    # Upper bound of a run's cost in cents from its validated input (the credit check).
    estimate_cents: Callable[[Any], int]

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


def _estimate_edit(validated: EditInput) -> int:
    width, height = validated.requested_size or DEFAULT_ESTIMATE_SIZE
    return estimate_cents(width, height, validated.num_images)


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


CATALOG: dict[str, CatalogModel] = {
    QWEN_IMAGE_EDIT_2511: CatalogModel(
        id=QWEN_IMAGE_EDIT_2511,
        name="Qwen Image Edit 2511",
        description=(
            "Image editing from Alibaba: text editing, multi-image references (up to 4), "
            "style transfer and object edits through natural-language instructions."
        ),
        input_model=EditInput,
        output_model=EditOutput,
        estimate_cents=_estimate_edit,
    ),
    QWEN_IMAGE_EDIT_2511_LIGHTNING: CatalogModel(
        id=QWEN_IMAGE_EDIT_2511_LIGHTNING,
        name="Qwen Image Edit 2511 Lightning",
        description=(
            "Qwen Image Edit 2511 with the Lightning distilled LoRA: the same edits in 4 or 8 "
            "steps without classifier-free guidance (defaults: 8 steps, guidance 1)."
        ),
        input_model=LightningEditInput,
        output_model=EditOutput,
        estimate_cents=_estimate_edit,
    ),
}


def get_catalog_model(model_id: str) -> CatalogModel | None:
    return CATALOG.get(model_id)
