//! Listing a cluster for the CLI (`audit`, `policy suggest --cluster`): every page of a list,
//! and a custom kind at the first version the cluster serves. One place, so both read the
//! cluster the same way and name a failed list the same way.

use kube::{
    Client,
    api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams},
};

/// Every page of a list (500 at a time).
pub async fn pages<T, F, Fut>(mut list: F) -> kube::Result<Vec<T>>
where
    F: FnMut(ListParams) -> Fut,
    Fut: std::future::Future<Output = kube::Result<kube::api::ObjectList<T>>>,
    T: Clone,
{
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = list(params.clone()).await?;
        out.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}

/// Lists one custom kind at the first version the cluster serves; `None` if it serves none.
pub async fn list_dynamic(
    client: &Client,
    group: &str,
    versions: &[&str],
    kind: &str,
    plural: &str,
) -> anyhow::Result<Option<Vec<DynamicObject>>> {
    for version in versions {
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
        match pages(|p| {
            let api = api.clone();
            async move { api.list(&p).await }
        })
        .await
        {
            Ok(mut items) => {
                for o in &mut items {
                    o.types = Some(kube::api::TypeMeta {
                        api_version: ar.api_version.clone(),
                        kind: kind.to_owned(),
                    });
                }
                return Ok(Some(items));
            }
            Err(kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => {
                return Err(anyhow::anyhow!(super::audit::errors::list_failed(
                    &format!("listing {plural}.{group}"),
                    &e
                )));
            }
        }
    }
    Ok(None)
}
