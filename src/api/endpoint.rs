//! One resource per path with all its methods, so a request with a method the path does not take is
//! answered `405 Method Not Allowed` with an `Allow` header and a JSON body naming the methods (not a
//! 404 as if the path did not exist), and every GET also answers HEAD (uptime checkers use HEAD; the
//! server sends the headers without the body).

use actix_web::dev::HttpServiceFactory;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, Handler, HttpResponse, Responder, Route, guard, web};

use crate::http::error::ApiError;

/// A path and the routes it takes.
pub struct Endpoint {
    path: &'static str,
    methods: Vec<Method>,
    routes: Vec<Route>,
}

/// Starts the endpoint at `path`.
pub fn at(path: &'static str) -> Endpoint {
    Endpoint { path, methods: Vec::new(), routes: Vec::new() }
}

impl Endpoint {
    /// GET, and HEAD with the same handler.
    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route().guard(guard::Any(guard::Get()).or(guard::Head())).to(handler);
        self.with(&[Method::GET, Method::HEAD], route)
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&[Method::POST], web::post().to(handler))
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&[Method::PUT], web::put().to(handler))
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&[Method::DELETE], web::delete().to(handler))
    }

    fn with(mut self, methods: &[Method], route: Route) -> Self {
        self.methods.extend_from_slice(methods);
        self.routes.push(route);
        self
    }

    /// The `Allow` header's value.
    fn allow(&self) -> String {
        self.methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ")
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut actix_web::dev::AppService) {
        let allow = self.allow();
        let mut resource = web::resource(self.path);
        for route in self.routes {
            resource = resource.route(route);
        }
        let resource = resource.default_service(web::to(move |request: actix_web::HttpRequest| {
            let allow = allow.clone();
            async move {
                let refusal = ApiError::MethodNotAllowed(format!(
                    "{} does not take {}; it takes {allow}",
                    request.match_pattern().unwrap_or_else(|| request.path().to_owned()),
                    request.method()
                ));
                let mut response = HttpResponse::from_error(refusal);
                if let Ok(value) = header::HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
        }));
        resource.register(config);
    }
}
