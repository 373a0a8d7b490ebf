mod agent;
mod agent_tls;
mod assess;
mod net;
mod policy;
mod serve;
mod support;
mod taxii;
