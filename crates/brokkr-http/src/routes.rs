//! The route table: from method and path to an [`Operation`] of core's access table.
//!
//! Routing only names the operation; whether the caller may perform it is decided by
//! `authorize` in core.

use brokkr_core::Operation;
use http::Method;
use uuid::Uuid;

/// A matched route, with the ids its path carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`
    Health,
    /// `GET /readyz`
    Ready,
    /// `GET /api/v1/auth/whoami`
    WhoAmI,
    /// `POST /api/v1/generators`
    CreateGenerator,
    /// `GET /api/v1/generators`
    ListGenerators,
    /// `GET /api/v1/generators/{id}`
    ReadGenerator(Uuid),
    /// `PUT /api/v1/generators/{id}`
    UpdateGenerator(Uuid),
    /// `DELETE /api/v1/generators/{id}`
    DeleteGenerator(Uuid),
    /// `POST /api/v1/generators/{id}/rotate-pak`
    RotateGeneratorPak(Uuid),
    /// `POST /api/v1/stacks`
    CreateStack,
    /// `GET /api/v1/stacks`
    ListStacks,
    /// `GET /api/v1/stacks/{id}`
    ReadStack(Uuid),
    /// `PUT /api/v1/stacks/{id}`
    UpdateStack(Uuid),
    /// `DELETE /api/v1/stacks/{id}`
    DeleteStack(Uuid),
    /// `POST /api/v1/stacks/{id}/deployment-objects`
    CreateDeploymentObject(Uuid),
    /// `GET /api/v1/stacks/{id}/deployment-objects`
    ListDeploymentObjects(Uuid),
    /// `GET /api/v1/deployment-objects/{id}`
    ReadDeploymentObject(Uuid),
    /// `POST /api/v1/templates`
    CreateTemplate,
    /// `GET /api/v1/templates`
    ListTemplates,
    /// `GET /api/v1/templates/{id}`
    ReadTemplate(Uuid),
    /// `PUT /api/v1/templates/{id}`
    UpdateTemplate(Uuid),
    /// `DELETE /api/v1/templates/{id}`
    DeleteTemplate(Uuid),
    /// `POST /api/v1/templates/{id}/render`
    RenderTemplate(Uuid),
}

/// Why no route matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// Nothing lives at this path (or an id in it is not a UUID).
    NotFound,
    /// The path exists, but not with this method; these methods would do.
    MethodNotAllowed(&'static [Method]),
}

impl Route {
    /// The access-table row this route performs, or `None` for the health routes.
    pub fn operation(self) -> Option<Operation> {
        use Operation as Op;
        Some(match self {
            Self::Health | Self::Ready => return None,
            Self::WhoAmI => Op::WhoAmI,
            Self::CreateGenerator => Op::CreateGenerator,
            Self::ListGenerators => Op::ListGenerators,
            Self::ReadGenerator(_) => Op::ReadGenerator,
            Self::UpdateGenerator(_) => Op::UpdateGenerator,
            Self::DeleteGenerator(_) => Op::DeleteGenerator,
            Self::RotateGeneratorPak(_) => Op::RotateGeneratorPak,
            Self::CreateStack => Op::CreateStack,
            Self::ListStacks => Op::ListStacks,
            Self::ReadStack(_) => Op::ReadStack,
            Self::UpdateStack(_) => Op::UpdateStack,
            Self::DeleteStack(_) => Op::DeleteStack,
            Self::CreateDeploymentObject(_) => Op::CreateDeploymentObject,
            Self::ListDeploymentObjects(_) => Op::ListDeploymentObjects,
            Self::ReadDeploymentObject(_) => Op::ReadDeploymentObject,
            Self::CreateTemplate => Op::CreateTemplate,
            Self::ListTemplates => Op::ListTemplates,
            Self::ReadTemplate(_) => Op::ReadTemplate,
            Self::UpdateTemplate(_) => Op::UpdateTemplate,
            Self::DeleteTemplate(_) => Op::DeleteTemplate,
            Self::RenderTemplate(_) => Op::RenderTemplate,
        })
    }

    /// Whether the route reads a JSON body, and whether the body may be left out.
    pub fn body(self) -> Body {
        match self {
            Self::CreateGenerator
            | Self::UpdateGenerator(_)
            | Self::CreateStack
            | Self::UpdateStack(_)
            | Self::CreateDeploymentObject(_)
            | Self::CreateTemplate
            | Self::UpdateTemplate(_) => Body::Required,
            Self::RotateGeneratorPak(_) | Self::RenderTemplate(_) => Body::Optional,
            _ => Body::None,
        }
    }
}

/// What a route does with a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// It ignores any body.
    None,
    /// It reads a JSON body when one is sent.
    Optional,
    /// It needs a JSON body.
    Required,
}

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const GET_POST: &[Method] = &[Method::GET, Method::POST];
const GET_PUT_DELETE: &[Method] = &[Method::GET, Method::PUT, Method::DELETE];

/// Matches `method` and `path` against the API.
///
/// # Errors
///
/// [`NoRoute`] says whether the path or only the method is wrong.
pub fn route(method: &Method, path: &str) -> Result<Route, NoRoute> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = path.split('/').skip(1).collect();

    let (allowed, route): (&'static [Method], Option<Route>) = match segments.as_slice() {
        ["healthz"] => (GET, (method == Method::GET).then_some(Route::Health)),
        ["readyz"] => (GET, (method == Method::GET).then_some(Route::Ready)),
        ["api", "v1", rest @ ..] => api_route(method, rest)?,
        _ => return Err(NoRoute::NotFound),
    };
    route.ok_or(NoRoute::MethodNotAllowed(allowed))
}

type Matched = (&'static [Method], Option<Route>);

fn api_route(method: &Method, rest: &[&str]) -> Result<Matched, NoRoute> {
    let is = |wanted: Method| *method == wanted;
    let (allowed, route) = match rest {
        ["auth", "whoami"] => (GET, is(Method::GET).then_some(Route::WhoAmI)),

        ["generators"] => (
            GET_POST,
            pick(method, Route::ListGenerators, Route::CreateGenerator),
        ),
        ["generators", id] => (
            GET_PUT_DELETE,
            item(
                method,
                id_of(id)?,
                Route::ReadGenerator,
                Route::UpdateGenerator,
                Route::DeleteGenerator,
            ),
        ),
        ["generators", id, "rotate-pak"] => {
            let id = id_of(id)?;
            (
                POST,
                is(Method::POST).then_some(Route::RotateGeneratorPak(id)),
            )
        }

        ["stacks"] => (
            GET_POST,
            pick(method, Route::ListStacks, Route::CreateStack),
        ),
        ["stacks", id] => (
            GET_PUT_DELETE,
            item(
                method,
                id_of(id)?,
                Route::ReadStack,
                Route::UpdateStack,
                Route::DeleteStack,
            ),
        ),
        ["stacks", id, "deployment-objects"] => {
            let id = id_of(id)?;
            (
                GET_POST,
                pick(
                    method,
                    Route::ListDeploymentObjects(id),
                    Route::CreateDeploymentObject(id),
                ),
            )
        }
        ["deployment-objects", id] => {
            let id = id_of(id)?;
            (
                GET,
                is(Method::GET).then_some(Route::ReadDeploymentObject(id)),
            )
        }

        ["templates"] => (
            GET_POST,
            pick(method, Route::ListTemplates, Route::CreateTemplate),
        ),
        ["templates", id] => (
            GET_PUT_DELETE,
            item(
                method,
                id_of(id)?,
                Route::ReadTemplate,
                Route::UpdateTemplate,
                Route::DeleteTemplate,
            ),
        ),
        ["templates", id, "render"] => {
            let id = id_of(id)?;
            (POST, is(Method::POST).then_some(Route::RenderTemplate(id)))
        }

        _ => return Err(NoRoute::NotFound),
    };
    Ok((allowed, route))
}

fn id_of(segment: &str) -> Result<Uuid, NoRoute> {
    Uuid::parse_str(segment).map_err(|_| NoRoute::NotFound)
}

fn pick(method: &Method, on_get: Route, on_post: Route) -> Option<Route> {
    match *method {
        Method::GET => Some(on_get),
        Method::POST => Some(on_post),
        _ => None,
    }
}

fn item(
    method: &Method,
    id: Uuid,
    on_get: fn(Uuid) -> Route,
    on_put: fn(Uuid) -> Route,
    on_delete: fn(Uuid) -> Route,
) -> Option<Route> {
    match *method {
        Method::GET => Some(on_get(id)),
        Method::PUT => Some(on_put(id)),
        Method::DELETE => Some(on_delete(id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "a1b2c3d4-e5f6-7890-abcd-ef1234567890";

    fn id() -> Uuid {
        Uuid::parse_str(ID).expect("valid uuid")
    }

    #[test]
    fn routes() {
        let cases: &[(Method, String, Result<Route, NoRoute>)] = &[
            // generators
            (
                Method::POST,
                "/api/v1/generators".into(),
                Ok(Route::CreateGenerator),
            ),
            (
                Method::GET,
                "/api/v1/generators/".into(),
                Ok(Route::ListGenerators),
            ),
            (
                Method::GET,
                format!("/api/v1/generators/{ID}"),
                Ok(Route::ReadGenerator(id())),
            ),
            (
                Method::PUT,
                format!("/api/v1/generators/{ID}"),
                Ok(Route::UpdateGenerator(id())),
            ),
            (
                Method::POST,
                format!("/api/v1/generators/{ID}/rotate-pak"),
                Ok(Route::RotateGeneratorPak(id())),
            ),
            // stacks and objects
            (
                Method::POST,
                format!("/api/v1/stacks/{ID}/deployment-objects"),
                Ok(Route::CreateDeploymentObject(id())),
            ),
            (
                Method::GET,
                format!("/api/v1/deployment-objects/{ID}"),
                Ok(Route::ReadDeploymentObject(id())),
            ),
            // wrong methods
            (
                Method::PATCH,
                "/api/v1/generators".into(),
                Err(NoRoute::MethodNotAllowed(GET_POST)),
            ),
            (
                Method::GET,
                format!("/api/v1/generators/{ID}/rotate-pak"),
                Err(NoRoute::MethodNotAllowed(POST)),
            ),
            (
                Method::POST,
                "/healthz".into(),
                Err(NoRoute::MethodNotAllowed(GET)),
            ),
            // unknown paths, and ids that are not ids
            (
                Method::GET,
                "/api/v1/nothing".into(),
                Err(NoRoute::NotFound),
            ),
            (
                Method::GET,
                "/api/v2/generators".into(),
                Err(NoRoute::NotFound),
            ),
            (
                Method::GET,
                "/api/v1/generators/not-a-uuid".into(),
                Err(NoRoute::NotFound),
            ),
            (Method::GET, "/".into(), Err(NoRoute::NotFound)),
        ];
        for (method, path, expected) in cases {
            assert_eq!(&route(method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn every_api_route_maps_to_an_operation_with_a_rule() {
        let routes = [
            Route::WhoAmI,
            Route::CreateGenerator,
            Route::ListGenerators,
            Route::ReadGenerator(id()),
            Route::RotateGeneratorPak(id()),
            Route::CreateStack,
            Route::RenderTemplate(id()),
        ];
        for route in routes {
            let operation = route.operation().expect("api routes name an operation");
            assert!(
                brokkr_core::access::rule_for(operation).is_some(),
                "{route:?}"
            );
        }
    }
}
