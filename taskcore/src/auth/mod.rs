//! Token and password logic that is not HTTP.
