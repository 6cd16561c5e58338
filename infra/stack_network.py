"""The network section of an environment's stack: VPC, subnets, NAT, endpoints, security groups."""

from __future__ import annotations

from infra.cfn import StackBuilder, get_att, ref, sub, tags

# the interface endpoints that keep image pulls, secrets and logs off the NAT gateway
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "secretsmanager", "logs")


class NetworkSection(StackBuilder):
    """VPC, public/private subnets per zone, NAT gateway, S3 and interface endpoints, security groups."""

    def network(self) -> None:
        env = self.env
        self.add("Vpc", "AWS::EC2::VPC", {"CidrBlock": env.vpc_cidr, "EnableDnsHostnames": True,
                                          "EnableDnsSupport": True, "Tags": tags(env, env.name)})
        self.add("InternetGateway", "AWS::EC2::InternetGateway", {"Tags": tags(env, env.name)})
        self.add("VpcGatewayAttachment", "AWS::EC2::VPCGatewayAttachment",
                 {"VpcId": ref("Vpc"), "InternetGatewayId": ref("InternetGateway")})
        private, public = env.subnet_cidrs()
        for kind, cidrs in (("Public", public), ("Private", private)):
            self.add(f"{kind}RouteTable", "AWS::EC2::RouteTable",
                     {"VpcId": ref("Vpc"), "Tags": tags(env, f"{env.name}-{kind.lower()}")})
            for i, cidr in enumerate(cidrs):
                self.add(f"{kind}Subnet{i + 1}", "AWS::EC2::Subnet", {
                    "VpcId": ref("Vpc"), "CidrBlock": cidr,
                    "AvailabilityZone": {"Fn::Select": [i, {"Fn::GetAZs": ""}]},
                    "MapPublicIpOnLaunch": False,
                    "Tags": tags(env, f"{env.name}-{kind.lower()}-{i + 1}"),
                })
                self.add(f"{kind}Subnet{i + 1}RouteTableAssociation", "AWS::EC2::SubnetRouteTableAssociation",
                         {"SubnetId": ref(f"{kind}Subnet{i + 1}"), "RouteTableId": ref(f"{kind}RouteTable")})
        self.add("PublicDefaultRoute", "AWS::EC2::Route",
                 {"RouteTableId": ref("PublicRouteTable"), "DestinationCidrBlock": "0.0.0.0/0",
                  "GatewayId": ref("InternetGateway")}, DependsOn="VpcGatewayAttachment")
        self.add("NatEip", "AWS::EC2::EIP", {"Domain": "vpc", "Tags": tags(env, f"{env.name}-nat")},
                 DependsOn="VpcGatewayAttachment")
        self.add("NatGateway", "AWS::EC2::NatGateway", {
            "AllocationId": get_att("NatEip", "AllocationId"), "SubnetId": ref("PublicSubnet1"),
            "Tags": tags(env, f"{env.name}-nat")})
        self.add("PrivateDefaultRoute", "AWS::EC2::Route",
                 {"RouteTableId": ref("PrivateRouteTable"), "DestinationCidrBlock": "0.0.0.0/0",
                  "NatGatewayId": ref("NatGateway")})
        # S3 (the lakehouse, and ECR's image layers) through the free gateway endpoint
        self.add("S3GatewayEndpoint", "AWS::EC2::VPCEndpoint", {
            "VpcId": ref("Vpc"), "VpcEndpointType": "Gateway",
            "ServiceName": sub("com.amazonaws.${AWS::Region}.s3"),
            "RouteTableIds": [ref("PrivateRouteTable")], "Tags": tags(env, f"{env.name}-s3")})
        self.add("TaskSecurityGroup", "AWS::EC2::SecurityGroup", {
            "GroupDescription": f"{env.name} ECS tasks, Batch jobs and GPU instances",
            "VpcId": ref("Vpc"),
            "SecurityGroupEgress": [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0",
                                     "Description": "feeds, LLM API, AWS APIs"}],
            "Tags": tags(env, f"{env.name}-tasks")})
        self.add("TaskSecurityGroupWebserverIngress", "AWS::EC2::SecurityGroupIngress", {
            "GroupId": get_att("TaskSecurityGroup", "GroupId"), "IpProtocol": "tcp", "FromPort": 3000,
            "ToPort": 3000, "SourceSecurityGroupId": get_att("TaskSecurityGroup", "GroupId"),
            "Description": "the desk reaches the Dagster webserver (GraphQL)"})
        self.add("DatabaseSecurityGroup", "AWS::EC2::SecurityGroup", {
            "GroupDescription": f"{env.name} PostgreSQL", "VpcId": ref("Vpc"),
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                                      "SourceSecurityGroupId": get_att("TaskSecurityGroup", "GroupId"),
                                      "Description": "tasks to PostgreSQL"}],
            "Tags": tags(env, f"{env.name}-db")})
        if env.rds_proxy:
            self.add("DatabaseSecurityGroupProxyIngress", "AWS::EC2::SecurityGroupIngress", {
                "GroupId": get_att("DatabaseSecurityGroup", "GroupId"), "IpProtocol": "tcp", "FromPort": 5432,
                "ToPort": 5432, "SourceSecurityGroupId": get_att("DatabaseSecurityGroup", "GroupId"),
                "Description": "RDS Proxy to the instance"})
        if env.interface_endpoints:
            self.add("EndpointSecurityGroup", "AWS::EC2::SecurityGroup", {
                "GroupDescription": f"{env.name} interface endpoints", "VpcId": ref("Vpc"),
                "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                          "SourceSecurityGroupId": get_att("TaskSecurityGroup", "GroupId"),
                                          "Description": "HTTPS from the tasks"}],
                "Tags": tags(env, f"{env.name}-endpoints")})
            for service in INTERFACE_ENDPOINTS:
                logical = "".join(p.capitalize() for p in service.split(".")) + "Endpoint"
                self.add(logical, "AWS::EC2::VPCEndpoint", {
                    "VpcId": ref("Vpc"), "VpcEndpointType": "Interface", "PrivateDnsEnabled": True,
                    "ServiceName": sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                    "SubnetIds": self.private_subnets(),
                    "SecurityGroupIds": [get_att("EndpointSecurityGroup", "GroupId")],
                    "Tags": tags(env, f"{env.name}-{service}")})
