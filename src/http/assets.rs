//! The web client, compiled into the binary.
//!
//! `include_bytes!` embeds the page and its assets at build time, so answering `GET /` or
//! `GET /static/app.js` reads nothing from disk: a request path is only ever compared with the
//! names below, and there is no file system path to traverse.

/// One embedded file.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    /// The file name under `/static/` (or `index.html` for the page).
    pub name: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
}

/// The chat page, served at `/`.
pub const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../web/templates/index.html"),
};

/// Looks up a file served under `/static/`.
pub fn static_file(name: &str) -> Option<&'static Asset> {
    STATIC.iter().find(|asset| asset.name == name)
}

const STATIC: [Asset; 3] = [
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/static/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/static/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/static/favicon.svg"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_names_are_served() {
        assert!(static_file("app.js").is_some());
        for name in ["../Cargo.toml", "", "app.js/", "APP.JS", "%2e%2e/src/main.rs"] {
            assert!(static_file(name).is_none(), "{name}");
        }
    }
}
