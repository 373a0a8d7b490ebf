mod agent;
mod agent_tls;
mod assess;
mod logs;
mod policy;
mod serve;
mod support;
