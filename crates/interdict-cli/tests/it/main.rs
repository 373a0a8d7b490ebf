mod agent;
mod agent_tls;
mod assess;
mod assess_ipa;
mod policy;
mod serve;
mod support;
