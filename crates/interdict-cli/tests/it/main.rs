mod agent;
mod agent_tls;
mod assess;
mod audit;
mod policy;
mod serve;
mod support;
