mod agent;
mod assess;
mod policy;
mod serve;
mod support;
