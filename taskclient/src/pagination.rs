//! Walking every page of a list.

use crate::client::Client;
use crate::error::Result;
use futures_core::Stream;
use futures_util::{StreamExt, TryStreamExt, stream};
use taskcore::{ListQuery, Page, Task};

/// Pagination.
impl Client {
    /// Every page of a query, in order, following `next_cursor` until the
    /// last page. The query's own `cursor` is where it starts (usually `None`).
    /// The stream ends after the first error.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt;
    /// use taskcore::ListQuery;
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let mut pages = std::pin::pin!(client.pages(ListQuery { limit: 200, ..ListQuery::default() }));
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} tasks", page.tasks.len());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn pages(&self, query: ListQuery) -> impl Stream<Item = Result<Page>> + Send + 'static {
        let client = self.clone();
        stream::try_unfold(Some(query), move |next| {
            let client = client.clone();
            async move {
                let Some(query) = next else { return Ok(None) };
                let page = client.list_tasks(&query).await?;
                let following = page.next_cursor.clone().map(|cursor| ListQuery {
                    cursor: Some(cursor),
                    ..query
                });
                Ok(Some((page, following)))
            }
        })
    }

    /// Every task a query matches, across all pages, each exactly once.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt;
    /// use taskcore::{ListQuery, StatusFilter};
    ///
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let pending = ListQuery { status: StatusFilter::Pending, ..ListQuery::default() };
    /// let mut tasks = std::pin::pin!(client.all_tasks(pending));
    /// while let Some(task) = tasks.try_next().await? {
    ///     println!("#{} {}", task.number, task.title);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn all_tasks(&self, query: ListQuery) -> impl Stream<Item = Result<Task>> + Send + 'static {
        self.pages(query)
            .map_ok(|page| stream::iter(page.tasks.into_iter().map(Ok)))
            .try_flatten()
    }

    /// Every task a query matches, collected into one vector.
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let everything = client.collect_tasks(taskcore::ListQuery::default()).await?;
    /// println!("{} tasks in all", everything.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn collect_tasks(&self, query: ListQuery) -> Result<Vec<Task>> {
        let mut tasks = Vec::new();
        let mut pages = std::pin::pin!(self.pages(query));
        while let Some(page) = pages.next().await {
            tasks.extend(page?.tasks);
        }
        Ok(tasks)
    }
}
