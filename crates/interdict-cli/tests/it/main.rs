mod agent;
mod agent_tls;
mod assess;
mod policy;
mod serve;
mod support;
mod users;
