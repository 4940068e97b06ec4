//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/swagger-ui/`, vendored: nothing is fetched
//! from the internet). Every route declares its document next to its handler with `#[utoipa::path]`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(title = "crucible control API", description = "Operate and watch a crucible validator. Reads compatible with the reference validator's analytics paths (tag `reference`), crucible's own detail under `/v1/crucible/` (tag `crucible`); operations need `Authorization: Bearer <token>`."),
    paths(
        super::routes::healthz,
        super::routes::readyz,
        super::metrics::scrape,
        super::events::stream,
        super::routes::credit,
        super::routes::balance,
        super::routes::fees,
        super::routes::coldkey_events,
        super::routes::tournament_events,
        super::tournaments::history,
        super::tournaments::active,
        super::tournaments::latest_details,
        super::tournaments::details,
        super::orchestrator::next_dates,
        super::orchestrator::gpu_requirements,
        super::trainers::trainers,
        super::orchestrator::training_stats,
        super::results::tournament_results,
        super::participants::participants,
        super::trainers::crucible_trainers,
        super::control::create,
        super::control::cancel,
        super::control::confirm,
        super::control::override_task,
        super::control::add_trainer,
        super::control::remove_trainer,
        super::stalls::list,
        super::stalls::retry,
        super::operations::miners,
        super::operations::put_miner,
        super::operations::delete_miner,
        super::operations::refund,
        super::operations::weights,
        super::operations::bundle,
    ),
    components(schemas(ErrorBody, crate::actors::stalls::Stall)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Swagger UI over the document, which it also serves at `/openapi.json`.
pub fn swagger() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/swagger-ui/{_:.*}").url("/openapi.json", ApiDoc::openapi())
}
